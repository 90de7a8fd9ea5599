import { moto } from './aws/emulators.ts';
import { tasksCases } from './aws/tasks.cases.ts';

tasksCases(moto);
