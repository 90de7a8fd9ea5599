import { classifyCases } from './aws/classify.cases.ts';
import { moto } from './aws/emulators.ts';

classifyCases(moto);
