/**
 * The tables the ServiceNow simulator serves, described the way the instance's
 * dictionary describes them: each field's type, its choices (value → label) and,
 * for a reference, the table it points at. Values are stored as strings, as the
 * Table API returns them (research: docs/guides/simulator.md, "Response shapes").
 */
export type FieldType = 'string' | 'integer' | 'boolean' | 'datetime' | 'reference' | 'journal';

export interface FieldDef {
  type: FieldType;
  /** For a reference: the table it points at. */
  reference?: string;
  /** For a choice field: value → label (the display value). */
  choices?: Readonly<Record<string, string>>;
  /** The value a new record gets when the insert does not set the field. */
  default?: string;
}

export interface TableDef {
  name: string;
  /** The field whose value is the record's display value (a reference's `display_value`). */
  displayField: string;
  /** Prefix of the auto-numbered `number` field, when the table has one. */
  numberPrefix?: string;
  /** The table this one extends (`task` for incident): what `sys_class_nameINSTANCEOFtask` matches. */
  extends?: string;
  /** The label shown for the table (sys_dictionary's collection row). */
  label?: string;
  fields: Readonly<Record<string, FieldDef>>;
}

const str: FieldDef = { type: 'string' };
const int: FieldDef = { type: 'integer' };
const bool: FieldDef = { type: 'boolean' };
const date: FieldDef = { type: 'datetime' };
const ref = (table: string): FieldDef => ({ type: 'reference', reference: table });
const choice = (choices: Record<string, string>, defaultValue?: string): FieldDef => ({ type: 'integer', choices, ...(defaultValue === undefined ? {} : { default: defaultValue }) });
/** A journal field (work notes, comments): each write appends an entry in sys_journal_field; the record's own value stays empty. */
const journal: FieldDef = { type: 'journal' };

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

const PRIORITY = choice({ 1: '1 - Critical', 2: '2 - High', 3: '3 - Moderate', 4: '4 - Low', 5: '5 - Planning' }, '5');
const IMPACT = choice({ 1: '1 - High', 2: '2 - Medium', 3: '3 - Low' }, '3');

/** Fields of the `task` table that incident, change_task and sc_task extend. */
export const TASK_FIELDS: Readonly<Record<string, FieldDef>> = {
  ...SYSTEM,
  number: str,
  short_description: str,
  description: str,
  active: { ...bool, default: 'true' },
  priority: PRIORITY,
  impact: IMPACT,
  urgency: IMPACT,
  assignment_group: ref('sys_user_group'),
  assigned_to: ref('sys_user'),
  opened_at: date,
  opened_by: ref('sys_user'),
  closed_at: date,
  reassignment_count: { ...int, default: '0' },
  work_notes: journal,
  comments: journal,
};

/** incident states (IncidentStateSNC). */
export const INCIDENT_STATES = { 1: 'New', 2: 'In Progress', 3: 'On Hold', 6: 'Resolved', 7: 'Closed', 8: 'Canceled' } as const;
/** incident hold_reason: 2 is not in the base system. */
export const HOLD_REASONS = { 1: 'Awaiting Caller', 3: 'Awaiting Problem', 4: 'Awaiting Vendor', 5: 'Awaiting Change' } as const;
/** change_task states (ChangeTaskStateSNC). */
export const CHANGE_TASK_STATES = { '-5': 'Pending', 1: 'Open', 2: 'In Progress', 3: 'Closed', 4: 'Canceled' } as const;
/** change_request states (ChangeRequestStateSNC). */
export const CHANGE_REQUEST_STATES = { '-5': 'New', '-4': 'Assess', '-3': 'Authorize', '-2': 'Scheduled', '-1': 'Implement', 0: 'Review', 3: 'Closed', 4: 'Canceled' } as const;
/** sc_task states; 7 is Closed Skipped. */
export const SC_TASK_STATES = { '-5': 'Pending', 1: 'Open', 2: 'Work in Progress', 3: 'Closed Complete', 4: 'Closed Incomplete', 7: 'Closed Skipped' } as const;

/** States in which business rules set `active=false`. */
export const INACTIVE_STATES: Readonly<Record<string, readonly string[]>> = {
  incident: ['7', '8'],
  change_request: ['3', '4'],
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
    fields: {
      ...TASK_FIELDS, state: choice(INCIDENT_STATES, '1'), incident_state: choice(INCIDENT_STATES, '1'), hold_reason: choice(HOLD_REASONS), caller_id: ref('sys_user'), category: { ...str, default: 'inquiry' },
      severity: choice({ 1: '1 - High', 2: '2 - Medium', 3: '3 - Low' }, '3'),
    },
  },
  change_task: {
    name: 'change_task',
    extends: 'task',
    displayField: 'number',
    numberPrefix: 'CTASK',
    fields: { ...TASK_FIELDS, state: choice(CHANGE_TASK_STATES, '1'), on_hold: { ...bool, default: 'false' }, on_hold_reason: str, change_task_type: str, change_request: ref('change_request') },
  },
  change_request: {
    name: 'change_request',
    extends: 'task',
    displayField: 'number',
    numberPrefix: 'CHG',
    fields: {
      ...TASK_FIELDS, state: choice(CHANGE_REQUEST_STATES, '-5'), type: { ...str, default: 'normal' }, risk: choice({ 2: 'High', 3: 'Moderate', 4: 'Low' }, '3'),
      category: { ...str, default: 'Other' }, start_date: date, end_date: date, on_hold: { ...bool, default: 'false' },
    },
  },
  sc_task: {
    name: 'sc_task',
    extends: 'task',
    displayField: 'number',
    numberPrefix: 'SCTASK',
    fields: { ...TASK_FIELDS, state: choice(SC_TASK_STATES, '1') },
  },
  /** Attachment metadata (the Attachment API); the contents are kept beside it. */
  sys_attachment: {
    name: 'sys_attachment',
    displayField: 'file_name',
    fields: {
      ...SYSTEM, file_name: str, table_name: str, table_sys_id: str, content_type: str, size_bytes: int, size_compressed: int, compressed: bool,
      state: str, hash: str, chunk_size_bytes: str, image_width: str, image_height: str, average_image_color: str,
    },
  },
  /** Journal entries: one row per work note or comment written to a record. */
  sys_journal_field: {
    name: 'sys_journal_field',
    displayField: 'value',
    fields: { ...SYSTEM, element_id: str, element: str, name: str, value: str },
  },
  /** The dictionary: a row per table (element empty) and per field, built from these definitions and the configured extras. */
  sys_dictionary: {
    name: 'sys_dictionary',
    displayField: 'column_label',
    fields: { ...SYSTEM, name: str, element: str, column_label: str, internal_type: str, reference: str, default_value: str, active: bool },
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
