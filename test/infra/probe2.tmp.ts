import { buildStack } from '#test/infra/stack.ts';

const { template } = buildStack({
  corsOrigins: ['https://app.example.com'],
  firstSuperuserEmail: 'admin@example.com',
  emailsFrom: 'noreply@example.com',
});
const R = template.toJSON().Resources as Record<string, any>;
const pick = (pred: (k: string, r: any) => boolean) => Object.entries(R).filter(([k, r]) => pred(k, r));
for (const [k, r] of pick(
  (k, r) =>
    ['ApiLoginRecoverPassword97BF4BB4', 'MigrationsMigrateB0EE37DC'].includes(k) ||
    [
      'AWS::RDS::DBCluster',
      'AWS::RDS::DBInstance',
      'AWS::RDS::DBProxy',
      'AWS::ApiGatewayV2::Api',
      'AWS::ApiGatewayV2::Stage',
      'Custom::Trigger',
      'AWS::EC2::SecurityGroupIngress',
    ].includes(r.Type) ||
    (r.Type === 'AWS::IAM::Policy' && /Recover|Migrate/.test(k)),
))
  console.log(k, JSON.stringify(r, null, 1));
