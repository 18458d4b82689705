import type { MirrorStatus } from './mirror-view.js';
import type { StoreSummary, WaitingItem } from './store.js';
import type { HealthPoint } from './upstream-health.js';

/**
 * What the web app reads: the mirror's cached view, its waiting lists and metrics, and one
 * action (a sync now). `Mirror` is one; a test may give another.
 */
export interface DashboardSource {
  /** The instance's URL, for links (never with credentials: the options refuse them). */
  readonly instance: string;
  /** The mirrored tables. */
  readonly tables: readonly string[];
  summary(): StoreSummary;
  status(): MirrorStatus;
  healthPoints(): HealthPoint[];
  onHealthPoint(listener: (point: HealthPoint) => void): () => void;
  waiting(table: string, group: string, limit: number): Promise<WaitingItem[]>;
  recordUrl(table: string, sysId: string): string;
  metrics(): Promise<{ contentType: string; text: string }>;
  syncNow(table: string): Promise<boolean>;
  on(event: 'update', listener: () => void): unknown;
  off(event: 'update', listener: () => void): unknown;
}
