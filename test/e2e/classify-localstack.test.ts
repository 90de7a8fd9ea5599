import { classifyCases } from './aws/classify.cases.ts';
import { localstack } from './aws/emulators.ts';

classifyCases(localstack);
