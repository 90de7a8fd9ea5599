import { AwsSolutionsChecks } from 'cdk-nag';
import { buildStack } from '#test/infra/stack.ts';

const t0 = Date.now();
const { app, template } = buildStack({
  corsOrigins: ['https://app.example.com'],
  firstSuperuserEmail: 'admin@example.com',
  emailsFrom: 'noreply@example.com',
});
console.log('built in', Date.now() - t0);
const fns = template.findResources('AWS::Lambda::Function');
for (const [k, v] of Object.entries(fns))
  console.log(k, (v as any).Properties.Runtime, (v as any).Properties.Handler);
const counts: Record<string, number> = {};
for (const r of Object.values(template.toJSON().Resources) as any[])
  counts[r.Type] = (counts[r.Type] ?? 0) + 1;
console.log(counts);
const report = new AwsSolutionsChecks().validateScope(app);
for (const v of report.violations)
  console.log(
    v.severity,
    v.ruleName,
    v.description.slice(0, 100),
    v.violatingResources.map((r) => r.constructPath).slice(0, 5),
    v.violatingResources.length,
  );
