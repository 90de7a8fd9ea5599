import bcrypt from 'bcryptjs';

// bcrypt, as the reference system (passlib) uses: its users' hashes import as they are.
const ROUNDS = 10;

/** Hashes a password for storage. */
export function hashPassword(password: string): Promise<string> {
  return bcrypt.hash(password, ROUNDS);
}

/** Checks a password against a stored hash in constant time. */
export function verifyPassword(password: string, hash: string): Promise<boolean> {
  return bcrypt.compare(password, hash);
}

// A real hash of a random password: comparing against it when the user does not exist costs
// the same time as a real check, so response times don't reveal which emails exist.
const DUMMY_HASH = '$2b$10$86Rj4Uy.qYgTxFFXLmyGV.zU9IdH51hd2QXEV6L0yUOZjxH/Jw7g.';

/** Spends the time of one password check, for paths where there is no user to check. */
export async function burnPasswordCheck(password: string): Promise<void> {
  await bcrypt.compare(password, DUMMY_HASH);
}
