import { z } from 'zod';
import { EncodedQuery } from './encoded-query.js';
import type { SnRecord } from './table-client.js';

/**
 * What "waiting" means for one table: the first rule whose every field has one of
 * the listed values names the record's bucket; `split` refines a bucket by a field's
 * value (an incident On Hold, by hold reason). A record no rule matches is not waiting.
 */
export const waitingRuleSchema = z.strictObject({
  label: z.string().min(1),
  where: z.record(z.string().regex(/^[a-z_][a-z0-9_]*$/, 'expected a field name'), z.array(z.string()).min(1)),
  split: z.strictObject({
    field: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'expected a field name'),
    labels: z.record(z.string(), z.string()),
    /** The bucket of a value not in `labels` (research/servicenow.md §9: treat unknown hold reasons as "other"). */
    other: z.string().default('Other'),
  }).optional(),
});

export const waitingSchema = z.record(z.string(), z.array(waitingRuleSchema));
export type WaitingRule = z.output<typeof waitingRuleSchema>;
export type WaitingDefinition = z.output<typeof waitingSchema>;

/**
 * The defaults (research/servicenow.md §5): an incident On Hold (state 3) by hold
 * reason; a change task Pending (-5) or on hold (the on_hold flag); a catalog task
 * Pending (-5). Only active records wait.
 */
export const DEFAULT_WAITING: WaitingDefinition = {
  incident: [{
    label: 'On Hold',
    where: { active: ['true'], state: ['3'] },
    split: { field: 'hold_reason', labels: { 1: 'Awaiting Caller', 3: 'Awaiting Problem', 4: 'Awaiting Vendor', 5: 'Awaiting Change' }, other: 'On Hold, other reason' },
  }],
  change_task: [
    { label: 'Pending', where: { active: ['true'], state: ['-5'] } },
    { label: 'On hold', where: { active: ['true'], on_hold: ['true'] } },
  ],
  sc_task: [{ label: 'Pending', where: { active: ['true'], state: ['-5'] } }],
};

/** The bucket `record` waits in under `rules`, or undefined when it is not waiting. */
export function waitingBucket(rules: readonly WaitingRule[] | undefined, record: SnRecord): string | undefined {
  if (rules === undefined) return undefined;
  for (const rule of rules) {
    if (!Object.entries(rule.where).every(([field, values]) => values.includes(record[field] ?? ''))) continue;
    if (rule.split === undefined) return rule.label;
    const value = record[rule.split.field] ?? '';
    return rule.split.labels[value] ?? rule.split.other;
  }
  return undefined;
}

/** Every bucket `rules` can produce, in display order. */
export function bucketsOf(rules: readonly WaitingRule[] | undefined): string[] {
  return (rules ?? []).flatMap((rule) => rule.split === undefined ? [rule.label] : [...Object.values(rule.split.labels), rule.split.other]);
}

/** Fields the rules read, which the sync must fetch. */
export function fieldsOf(rules: readonly WaitingRule[] | undefined): string[] {
  return [...new Set((rules ?? []).flatMap((rule) => [...Object.keys(rule.where), ...(rule.split === undefined ? [] : [rule.split.field])]))];
}

/** The encoded query that selects the waiting records of `rules` (one ^NQ group per rule). */
export function waitingQuery(rules: readonly WaitingRule[]): EncodedQuery {
  let query = new EncodedQuery();
  rules.forEach((rule, i) => {
    if (i > 0) query = query.newQuery();
    for (const [field, values] of Object.entries(rule.where)) query = values.length === 1 ? query.where(field, '=', values[0]!) : query.in(field, values);
  });
  return query;
}
