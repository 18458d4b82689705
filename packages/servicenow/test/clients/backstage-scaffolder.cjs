// Runs the Backstage ServiceNow scaffolder actions, unmodified, against SN_URL (the simulator,
// https, trusted through NODE_EXTRA_CA_CERTS), as a scaffolder task would run them. Prints one
// JSON line: each action's output.
'use strict';
const { ConfigReader } = require('@backstage/config');
const { createNowActions } = require('@backstage-community/plugin-scaffolder-backend-module-servicenow');

const { SN_URL, SN_USER, SN_PASSWORD, SN_GROUP } = process.env;
const config = new ConfigReader({ servicenow: { baseUrl: SN_URL, username: SN_USER, password: SN_PASSWORD } });
const actions = Object.fromEntries(createNowActions({ config }).map((a) => [a.id.split(':').pop(), a]));

async function run(name, input) {
  const outputs = {};
  const logger = { info() {}, warn() {}, error() {}, debug() {}, child() { return logger; } };
  await actions[name].handler({
    input, logger, output: (key, value) => { outputs[key] = value; },
    workspacePath: process.cwd(), createTemporaryDirectory: async () => process.cwd(), checkpoint: async ({ fn }) => fn(),
    getInitiatorCredentials: async () => ({}), task: { id: 'test' }, templateInfo: {}, isDryRun: false, signal: undefined, each: undefined,
  });
  return outputs.result;
}

(async () => {
  const created = await run('createRecord', {
    tableName: 'incident', requestBody: { short_description: 'from the Backstage scaffolder', assignment_group: SN_GROUP, state: 'In Progress' },
    sysparmInputDisplayValue: true, sysparmExcludeReferenceLink: true,
  });
  const read = await run('retrieveRecord', { tableName: 'incident', sysId: created.sys_id, sysparmDisplayValue: 'true', sysparmExcludeReferenceLink: true, sysparmFields: ['number', 'state', 'assignment_group'] });
  const modified = await run('modifyRecord', { tableName: 'incident', sysId: created.sys_id, requestBody: { state: 'Resolved' }, sysparmInputDisplayValue: true, sysparmExcludeReferenceLink: true });
  const listed = await run('retrieveRecords', { tableName: 'incident', sysparmQuery: `number=${created.number}`, sysparmExcludeReferenceLink: true, sysparmFields: ['number', 'state'] });
  await run('deleteRecord', { tableName: 'incident', sysId: created.sys_id });
  process.stdout.write(`${JSON.stringify({ created, read, modified, listed })}\n`);
})().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
