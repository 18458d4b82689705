import { seededRandom } from 'holdfast/internal/simulate/seeded-random.js';
import { glideDateTime, type InstanceData } from './instance-data.js';
import { INACTIVE_STATES, TABLES, type SnRecord } from './tables.js';

export interface SeedOptions {
  seed: number;
  /** Task records in all: half incidents, a quarter change tasks, a quarter catalog tasks. */
  records: number;
  /** Seeded times fall in the 90 days before this instant (ms). */
  epochMs: number;
}

const GROUP_NAMES = ['Service Desk', 'Network', 'Hardware', 'Database', 'Software', 'Identity and Access', 'Cloud Platform', 'Field Services',
  'Security Operations', 'Messaging', 'Storage', 'Telephony', 'Application Support', 'End User Computing', 'Change Management', 'Facilities'];
const FIRST = ['Abel', 'Beth', 'Carlos', 'Dana', 'Eitan', 'Fatima', 'Grace', 'Hiro', 'Ines', 'Jamal', 'Kirsten', 'Luis', 'Mei', 'Nora', 'Omar', 'Priya'];
const LAST = ['Tuter', 'Anderson', 'Nakamura', 'Okafor', 'Silva', 'Kowalski', 'Haddad', 'Moreau', 'Lindqvist', 'Reyes', 'Chen', 'Walsh'];
const SUBJECTS = ['Email not syncing on mobile', 'VPN drops every few minutes', 'Printer on 3rd floor offline', 'Cannot log in to payroll',
  'Laptop battery swelling', 'Request for new monitor', 'Database backup failed', 'SSL certificate expiring', 'Slow file share',
  'Password reset', 'New starter account', 'Firewall rule change', 'Disk space low on app server', 'Teams calls dropping'];

const pick = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

const tables = new WeakMap<Record<string, number>, [string, number][]>();

/** Picks a key by weight: `{ '1': 15, '2': 30 }` (pass a constant: its entries are cached). */
function weighted(random: () => number, weights: Record<string, number>): string {
  let entries = tables.get(weights);
  if (entries === undefined) tables.set(weights, (entries = Object.entries(weights)));
  let r = random() * entries.reduce((a, [, w]) => a + w, 0);
  for (const [key, weight] of entries) if ((r -= weight) < 0) return key;
  return entries[0]![0];
}

const PRIORITIES = { 1: 3, 2: 12, 3: 45, 4: 35, 5: 5 };
const INCIDENT_MIX = { 1: 15, 2: 30, 3: 20, 6: 15, 7: 15, 8: 5 };
const HOLD_MIX = { 1: 40, 3: 15, 4: 30, 5: 15 };
const CHANGE_TASK_MIX = { '-5': 20, 1: 25, 2: 25, 3: 20, 4: 10 };
const LEVELS = ['1', '2', '3'];
const CATEGORIES = ['inquiry', 'software', 'hardware', 'network', 'database'];
const CHANGE_TASK_TYPES = ['planning', 'implementation', 'testing', 'review'];
const SC_TASK_MIX = { '-5': 20, 1: 25, 2: 25, 3: 20, 4: 5, 7: 5 };

const word = (random: () => number) => Math.floor(random() * 4_294_967_296).toString(16).padStart(8, '0');
const hex = (random: () => number) => word(random) + word(random) + word(random) + word(random);

/** Empty records per table, with the fields in dictionary order: every row of a table then shares one shape. */
const TEMPLATES = new Map(Object.values(TABLES).map((def) => [def.name, Object.fromEntries(Object.keys(def.fields).map((f) => [f, ''])) as SnRecord]));

/** A stored record: the table's template, then `values` (a plain spread of a template is V8's fast clone). */
function fill(table: string, values: Record<string, string>): SnRecord {
  const record: SnRecord = { ...TEMPLATES.get(table)! };
  for (const name in values) if (name in record) record[name] = values[name]!;
  return record;
}

/** Fills an empty instance with reproducible, realistic data: groups, users, incidents, change tasks and catalog tasks. */
export function seedInstance(data: InstanceData, { seed, records, epochMs }: SeedOptions): void {
  const random = seededRandom(seed);
  const span = 90 * 86_400_000;
  const time = () => epochMs - Math.floor(random() * span);
  const system = (table: string, createdMs: number, updatedMs: number) => ({
    sys_id: hex(random), sys_created_on: glideDateTime(createdMs), sys_created_by: 'system', sys_updated_on: glideDateTime(updatedMs),
    sys_updated_by: 'system', sys_mod_count: String(Math.floor(random() * 8)), sys_class_name: table, sys_domain: 'global',
  });
  const groupCount = Math.min(GROUP_NAMES.length * 8, Math.max(GROUP_NAMES.length, Math.ceil(records / 2000)));
  const userCount = Math.min(5000, Math.max(20, Math.ceil(records / 50)));
  const users = data.table('sys_user')!;
  const userIds: string[] = [];
  for (let i = 0; i < userCount; i++) {
    const [first, last] = [pick(random, FIRST), pick(random, LAST)];
    const user_name = `${first}.${last}${i}`.toLowerCase();
    const t = time();
    const row = { ...system('sys_user', t, t), user_name, name: `${first} ${last}`, first_name: first, last_name: last, email: `${user_name}@example.com`, active: 'true', web_service_access_only: 'false', time_zone: 'GMT' };
    users.insert(fill('sys_user', row));
    userIds.push(row.sys_id);
  }
  const groups = data.table('sys_user_group')!;
  const groupIds: string[] = [];
  for (let i = 0; i < groupCount; i++) {
    const base = GROUP_NAMES[i % GROUP_NAMES.length]!;
    const name = i < GROUP_NAMES.length ? base : `${base} ${Math.floor(i / GROUP_NAMES.length) + 1}`;
    const t = time();
    const row = { ...system('sys_user_group', t, t), name, description: `${name} support group`, active: 'true', email: `${name.toLowerCase().replaceAll(' ', '-')}@example.com`, manager: pick(random, userIds), parent: '' };
    groups.insert(fill('sys_user_group', row));
    groupIds.push(row.sys_id);
  }
  const task = (table: string, state: string): SnRecord => {
    const created = time();
    const updated = Math.min(epochMs, created + Math.floor(random() * 10 * 86_400_000));
    const closed = (INACTIVE_STATES[table] ?? []).includes(state);
    const assigned = random() < 0.9;
    const r: SnRecord = { ...TEMPLATES.get(table)! };
    r.sys_id = hex(random);
    r.sys_created_on = glideDateTime(created);
    r.sys_created_by = 'system';
    r.sys_updated_on = glideDateTime(updated);
    r.sys_updated_by = 'system';
    r.sys_mod_count = String(Math.floor(random() * 8));
    r.sys_class_name = table;
    r.sys_domain = 'global';
    r.number = data.nextNumber(data.table(table)!);
    r.short_description = pick(random, SUBJECTS);
    r.active = closed ? 'false' : 'true';
    r.priority = weighted(random, PRIORITIES);
    r.impact = pick(random, LEVELS);
    r.urgency = pick(random, LEVELS);
    r.assignment_group = assigned ? pick(random, groupIds) : '';
    r.assigned_to = assigned && random() < 0.7 ? pick(random, userIds) : '';
    r.opened_at = r.sys_created_on;
    r.opened_by = pick(random, userIds);
    r.closed_at = closed ? r.sys_updated_on : '';
    r.reassignment_count = String(Math.floor(random() * 3));
    r.state = state;
    return r;
  };
  const counts = { incident: Math.ceil(records / 2), change_task: Math.floor(records / 4), sc_task: records - Math.ceil(records / 2) - Math.floor(records / 4) };
  const incidents = data.table('incident')!;
  for (let i = 0; i < counts.incident; i++) {
    const state = weighted(random, INCIDENT_MIX);
    const row = task('incident', state);
    row.incident_state = state;
    row.hold_reason = state === '3' ? weighted(random, HOLD_MIX) : '';
    row.caller_id = pick(random, userIds);
    row.category = pick(random, CATEGORIES);
    incidents.insert(row);
  }
  const changeTasks = data.table('change_task')!;
  for (let i = 0; i < counts.change_task; i++) {
    const state = weighted(random, CHANGE_TASK_MIX);
    const onHold = (state === '1' || state === '2') && random() < 0.15;
    const row = task('change_task', state);
    row.on_hold = String(onHold);
    row.on_hold_reason = onHold ? 'Waiting for maintenance window' : '';
    row.change_task_type = pick(random, CHANGE_TASK_TYPES);
    changeTasks.insert(row);
  }
  const scTasks = data.table('sc_task')!;
  for (let i = 0; i < counts.sc_task; i++) scTasks.insert(task('sc_task', weighted(random, SC_TASK_MIX)));
}
