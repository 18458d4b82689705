// Runs servicenow-rest-api, unmodified, against SN_HOST (host:port of the simulator, https);
// the simulator's certificate is trusted through NODE_EXTRA_CA_CERTS, as a user would.
// Prints one JSON line: what each call returned.
'use strict';
const ServiceNow = require('servicenow-rest-api');

const { SN_HOST, SN_USER, SN_PASSWORD, SN_GROUP } = process.env;
const sn = new ServiceNow(SN_HOST, SN_USER, SN_PASSWORD);
// The library logs every URL with console.log: keep stdout for the result.
console.log = (...args) => process.stderr.write(`${args.join(' ')}\n`);

/** The library takes callbacks and hands errors to them as results: one promise per call. */
const call = (method, ...args) => new Promise((resolve, reject) => {
  sn[method](...args, (res) => (res instanceof Error ? reject(new Error(`${method}: ${res.message} ${JSON.stringify(res.response?.data ?? '')}`)) : resolve(res)));
});

(async () => {
  const created = await call('createNewTask', { short_description: 'from servicenow-rest-api', assignment_group: SN_GROUP, state: 'In Progress', urgency: '1 - High' }, 'incident');
  const number = created.number;
  const read = await call('getTableData', ['number', 'state', 'assignment_group', 'urgency', 'short_description'], [`number=${number}`], 'incident');
  const updated = await call('UpdateTask', 'incident', number, { state: 'On Hold', hold_reason: 'Awaiting Vendor' });
  const deleted = await call('DeleteTask', 'incident', number);
  process.stdout.write(`${JSON.stringify({ created, read, updated, deleted: deleted.status })}\n`);
})().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
