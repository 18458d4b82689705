/**
 * The tables the ServiceNow simulator serves, described the way the instance's
 * dictionary describes them: each field's type, its choices (value → label) and,
 * for a reference, the table it points at. Values are stored as strings, as the
 * Table API returns them (research: docs/simulator.md, "Response shapes").
 */
export type FieldType = 'string' | 'integer' | 'boolean' | 'datetime' | 'reference';

export interface FieldDef {
  type: FieldType;
  /** For a reference: the table it points at. */
  reference?: string;
  /** For a choice field: value → label (the display value). */
  choices?: Readonly<Record<string, string>>;
}

export interface TableDef {
  name: string;
  /** The field whose value is the record's display value (a reference's `display_value`). */
  displayField: string;
  /** Prefix of the auto-numbered `number` field, when the table has one. */
  numberPrefix?: string;
  /** The table this one extends (`task` for incident): what `sys_class_nameINSTANCEOFtask` matches. */
  extends?: string;
  fields: Readonly<Record<string, FieldDef>>;
}

const str: FieldDef = { type: 'string' };
const int: FieldDef = { type: 'integer' };
const bool: FieldDef = { type: 'boolean' };
const date: FieldDef = { type: 'datetime' };
const ref = (table: string): FieldDef => ({ type: 'reference', reference: table });
const choice = (choices: Record<string, string>): FieldDef => ({ type: 'integer', choices });

/** Fields every table has, managed by the instance. */
const SYSTEM: Record<string, FieldDef> = {
  sys_id: str,
  sys_created_on: date,
  sys_created_by: str,
  sys_updated_on: date,
  sys_updated_by: str,
  sys_mod_count: int,
  sys_class_name: str,
  sys_domain: str,
};

const PRIORITY = choice({ 1: '1 - Critical', 2: '2 - High', 3: '3 - Moderate', 4: '4 - Low', 5: '5 - Planning' });
const IMPACT = choice({ 1: '1 - High', 2: '2 - Medium', 3: '3 - Low' });

/** Fields of the `task` table that incident, change_task and sc_task extend. */
const TASK: Record<string, FieldDef> = {
  ...SYSTEM,
  number: str,
  short_description: str,
  description: str,
  active: bool,
  priority: PRIORITY,
  impact: IMPACT,
  urgency: IMPACT,
  assignment_group: ref('sys_user_group'),
  assigned_to: ref('sys_user'),
  opened_at: date,
  opened_by: ref('sys_user'),
  closed_at: date,
  reassignment_count: int,
};

/** incident states (IncidentStateSNC). */
export const INCIDENT_STATES = { 1: 'New', 2: 'In Progress', 3: 'On Hold', 6: 'Resolved', 7: 'Closed', 8: 'Canceled' } as const;
/** incident hold_reason: 2 is not in the base system. */
export const HOLD_REASONS = { 1: 'Awaiting Caller', 3: 'Awaiting Problem', 4: 'Awaiting Vendor', 5: 'Awaiting Change' } as const;
/** change_task states (ChangeTaskStateSNC). */
export const CHANGE_TASK_STATES = { '-5': 'Pending', 1: 'Open', 2: 'In Progress', 3: 'Closed', 4: 'Canceled' } as const;
/** sc_task states; 7 is Closed Skipped. */
export const SC_TASK_STATES = { '-5': 'Pending', 1: 'Open', 2: 'Work in Progress', 3: 'Closed Complete', 4: 'Closed Incomplete', 7: 'Closed Skipped' } as const;

/** States in which business rules set `active=false`. */
export const INACTIVE_STATES: Readonly<Record<string, readonly string[]>> = {
  incident: ['7', '8'],
  change_task: ['3', '4'],
  sc_task: ['3', '4', '7'],
};

export const TABLES: Readonly<Record<string, TableDef>> = {
  sys_user_group: {
    name: 'sys_user_group',
    displayField: 'name',
    fields: { ...SYSTEM, name: str, description: str, active: bool, email: str, manager: ref('sys_user'), parent: ref('sys_user_group') },
  },
  sys_user: {
    name: 'sys_user',
    displayField: 'name',
    fields: { ...SYSTEM, user_name: str, name: str, first_name: str, last_name: str, email: str, active: bool, web_service_access_only: bool, time_zone: str },
  },
  incident: {
    name: 'incident',
    extends: 'task',
    displayField: 'number',
    numberPrefix: 'INC',
    fields: { ...TASK, state: choice(INCIDENT_STATES), incident_state: choice(INCIDENT_STATES), hold_reason: choice(HOLD_REASONS), caller_id: ref('sys_user'), category: str },
  },
  change_task: {
    name: 'change_task',
    extends: 'task',
    displayField: 'number',
    numberPrefix: 'CTASK',
    fields: { ...TASK, state: choice(CHANGE_TASK_STATES), on_hold: bool, on_hold_reason: str, change_task_type: str },
  },
  sc_task: {
    name: 'sc_task',
    extends: 'task',
    displayField: 'number',
    numberPrefix: 'SCTASK',
    fields: { ...TASK, state: choice(SC_TASK_STATES) },
  },
  /** Audit Deleted Records: one row per deleted record, which a sync reads to learn of deletes. */
  sys_audit_delete: {
    name: 'sys_audit_delete',
    displayField: 'display_value',
    fields: { ...SYSTEM, tablename: str, documentkey: str, display_value: str },
  },
};

/** A record as stored: every value a string, an empty one `""`. */
export type SnRecord = Record<string, string>;
