/**
 * The parts of the client's optional peers (pino, prom-client, ioredis, axios) that its public
 * types name, written out structurally. The declarations holdfast ships then import none of
 * them: an app without prom-client type-checks against holdfast with `skipLibCheck: false`, and
 * a pino logger, a prom-client Registry, an ioredis client or an axios instance still fits where
 * one is asked for (.ci/pack-check compiles such an app).
 */

/** A logger with pino's call shape (`logger.warn(fields, message)`): pino's, or any alike. */
export interface LoggerLike {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** A prom-client Registry, as holdfast registers its metrics in it and you read them. */
export interface MetricsRegistry {
  readonly contentType: string;
  metrics(): Promise<string>;
  getSingleMetricAsString(name: string): Promise<string>;
  getMetricsAsJSON(): Promise<Array<{ name: string; values: Array<{ value: number; labels: Record<string, string | number | undefined> }> }>>;
}

/** An ioredis client (yours: holdfast never closes it). */
export interface RedisClient {
  readonly status: string;
  quit(): Promise<unknown>;
}

/** An axios instance, as withAxios() fits it with agents, interceptors and replays. */
export interface AxiosLike {
  defaults: { httpAgent?: unknown; httpsAgent?: unknown };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- axios's own generics, not restated here
  request(config: any): Promise<any>;
  interceptors: {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    request: { use(onFulfilled: (config: any) => any): number };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    response: { use(onFulfilled: (response: any) => any, onRejected: (error: any) => any): number };
  };
}
