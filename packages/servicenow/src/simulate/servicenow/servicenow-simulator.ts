import { systemClock, type Clock } from 'holdfast/internal/clock.js';
import type { AddressInfo, Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { SimAuth } from './auth.js';
import { InstanceData } from './instance-data.js';
import { buildTables } from './schema.js';
import { aggregateAnswer } from './aggregate-api.js';
import { AttachmentApi, ATTACHMENT_ROUTE, MAX_ATTACHMENT_BYTES } from './attachment-api.js';
import multipart from '@fastify/multipart';
import { selfSignedCertificate } from './self-signed.js';
import { resolveSimulatorOptions, type Faults, type ResolvedSimulatorOptions, type SimulatorOptions } from './options.js';
import { RateLimitRules } from './rate-limit-rules.js';
import { seededRandom } from 'holdfast/internal/simulate/seeded-random.js';
import { seedInstance } from './seed.js';
import { failure, TableApi, type ApiAnswer, type Query } from './table-api.js';
import { startAdmin } from './admin-api.js';
import { Churn } from './churn.js';
import { InboundQueue } from './inbound-queue.js';
import { AnswerWriter, TRANSACTION_CANCELLED } from './answer-writer.js';
import { RefusalWindows } from 'holdfast/internal/simulate/refusal-windows.js';
import { SimulatorCounters, type SimulatorStats } from './simulator-counters.js';

export type { SimulatorStats } from './simulator-counters.js';

const TABLE_ROUTE = /^\/api\/now(?:\/(v1|v2))?\/table\/([^/?]+)(?:\/([^/?]+))?\/?$/;
/** The Aggregate API: `/api/now[/v1]/stats/{table}`. */
const STATS_ROUTE = /^\/api\/now(?:\/(v1|v2))?\/stats\/([^/?]+)\/?$/;

/**
 * A local ServiceNow instance's REST Table API and OAuth endpoint, with the
 * throttles real instances apply and faults on demand. See docs/guides/simulator.md for
 * what is faithful and what is not.
 *
 * @example
 * const sim = await ServiceNowSimulator.start({ records: 10_000 });
 * // GET `${sim.url}/api/now/table/incident?sysparm_limit=10` with Basic admin:admin
 * await sim.close();
 */
export class ServiceNowSimulator {
  readonly options: ResolvedSimulatorOptions;
  readonly data: InstanceData;
  readonly auth: SimAuth;
  faults: Faults;
  readonly #app: FastifyInstance;
  readonly #api: TableApi;
  readonly #attachments: AttachmentApi;
  readonly #rates: RateLimitRules;
  readonly #queue: InboundQueue;
  readonly #out: AnswerWriter;
  readonly #random: () => number;
  readonly #sockets = new Set<Socket>();
  readonly #counters: SimulatorCounters;
  readonly #stats: SimulatorCounters['stats'];
  #admin: FastifyInstance | undefined;
  #churn: Churn | undefined;
  readonly #refusals: RefusalWindows;
  #statusCount = 0;
  #port = 0;

  /** The certificate served over HTTPS (PEM), or undefined without TLS. */
  readonly certificate: string | undefined;

  readonly #clock: Clock;

  private constructor(options: ResolvedSimulatorOptions, tls: { key: string; cert: string } | undefined, clock: Clock) {
    this.options = options;
    this.#clock = clock;
    this.#counters = new SimulatorCounters(clock);
    this.#stats = this.#counters.stats;
    this.faults = options.faults;
    this.data = new InstanceData({ caseSensitive: options.caseSensitive, strict: options.strict }, () => clock.wallNow(), buildTables(options.schema));
    this.auth = new SimAuth(options, () => clock.wallNow());
    this.#api = new TableApi(this.data, options);
    this.#attachments = new AttachmentApi(this.data, (table, query) => this.#api.queryOf(table, query));
    this.#rates = new RateLimitRules(options.rateLimits, () => clock.wallNow());
    this.#queue = new InboundQueue(options.workers, options.queueDepth);
    this.#out = new AnswerWriter(options, () => this.faults, this.#stats, seededRandom(options.seed ^ 0x7a), clock);
    this.#random = seededRandom(options.seed ^ 0x5eed);
    this.certificate = tls?.cert;
    this.#app = Fastify({
      keepAliveTimeout: options.keepAliveTimeoutS * 1000, forceCloseConnections: true, bodyLimit: 10 * 1024 * 1024,
      ...(tls === undefined ? {} : { https: tls }),
    }) as unknown as FastifyInstance;
    this.#routes();
    this.#refusals = new RefusalWindows(this.#app.server, () => ({ host: options.host, port: this.#port }), () => { this.#stats.refusals++; }, clock);
  }

  /** `clock`: the simulated work time, churn, refusal windows and record timestamps (a fake one in tests). */
  static async start(input: SimulatorOptions = {}, { clock = systemClock }: { clock?: Clock } = {}): Promise<ServiceNowSimulator> {
    const options = resolveSimulatorOptions(input);
    const tls = options.tls === false ? undefined : options.tls === true ? await selfSignedCertificate(options.host) : options.tls;
    const sim = new ServiceNowSimulator(options, tls, clock);
    await sim.#init();
    return sim;
  }

  get url(): string {
    const scheme = this.certificate === undefined ? 'http' : 'https';
    return `${scheme}://${this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host}:${this.#port}`;
  }

  get adminUrl(): string {
    return `http://${this.options.adminHost}:${(this.#admin!.server.address() as AddressInfo).port}`;
  }

  stats(): SimulatorStats {
    return structuredClone(this.#stats);
  }

  async #init(): Promise<void> {
    const o = this.options;
    if (o.load !== undefined) await this.data.load(o.load);
    else seedInstance(this.data, { seed: o.seed, records: o.records, epochMs: o.epochMs ?? Math.floor(this.#clock.wallNow() / 86_400_000) * 86_400_000 });
    const server = this.#app.server;
    server.on('connection', (socket: Socket) => this.#track(socket));
    await this.#app.listen({ host: o.host, port: o.port });
    this.#port = (server.address() as AddressInfo).port;
    this.#admin = await startAdmin(this, o.adminHost, o.adminPort);
    if (o.churnPerSecond > 0) this.#churn = new Churn(this.data, o.churnPerSecond, seededRandom(o.seed ^ 0xc4), this.#clock);
    this.#refusals.schedule(o.refuse);
  }

  /** Every connection: counted, and dropped by the load balancer after lbIdleMs idle. */
  #track(socket: Socket): void {
    this.#stats.connections++;
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    const idleMs = this.options.lbIdleMs;
    if (idleMs > 0) socket.setTimeout(idleMs, () => socket.destroy());
  }

  #routes(): void {
    const app = this.#app;
    // A DELETE may say Content-Type: application/json and send no body (ServiceNow's docs and
    // servicenow-rest-api do): an empty JSON body is no body, not a 400 (issue 17).
    const json = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
      if (body === '') return done(null, undefined);
      return json(req, body as string, done);
    });
    // Attachments come in any content type (c_AttachmentAPI: */*), as bytes; multipart for /upload.
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_ATTACHMENT_BYTES }, (_req, body, done) => done(null, body));
    void app.register(multipart, { limits: { fileSize: MAX_ATTACHMENT_BYTES } });
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, new URLSearchParams(body as string)));
    app.setErrorHandler((err: { statusCode?: number; message: string }, request, reply) => {
      const status = err.statusCode !== undefined && err.statusCode < 500 ? 400 : 500;
      this.#out.send(request, reply, failure(status, status === 400 ? 'Exception while reading request' : 'Internal server error', err.message));
    });
    app.setNotFoundHandler((request, reply) => {
      // The UI (login.do and its session cookies, through which @servicenow/sdk signs in with
      // Basic or its OAuth CI mode) is not simulated: say so plainly (docs/guides/simulator.md).
      if (/\.do$/.test(request.url.split('?', 1)[0]!)) {
        return this.#out.send(request, reply, failure(501, `Not simulated: ${request.url.split('?', 1)[0]} (the instance's UI and its session sign-in)`, 'The holdfast simulator serves the REST APIs only: Table, Aggregate, Attachment and OAuth (/oauth_token.do). Sign in with Basic or a bearer token.'));
      }
      return this.#out.send(request, reply, failure(400, 'Requested URI does not represent any resource', null));
    });
    app.addHook('onRequest', (request, reply, done) => {
      this.#counters.request(reply.raw);
      if (this.#random() < this.faults.rstRate) {
        this.#stats.resets++;
        reply.hijack();
        request.raw.socket.resetAndDestroy();
        return;
      }
      const burst = this.faults.status;
      if (burst !== undefined && this.#statusCount++ % burst.period < burst.count) {
        const title = burst.code === 429 ? 'Too Many Requests' : burst.code === 503 ? 'Service Unavailable' : 'Internal Server Error';
        this.#out.send(request, reply, failure(burst.code, title, null, burst.code === 429 ? { 'retry-after': '1' } : {}));
        return;
      }
      done();
    });
    app.post('/oauth_token.do', async (request, reply) => {
      if (!(request.body instanceof URLSearchParams)) {
        return reply.code(400).send({ error_description: 'Content-Type must be application/x-www-form-urlencoded', error: 'invalid_request' });
      }
      const answer = this.auth.token(request.body);
      return reply.code(answer.status).header('cache-control', 'no-store').send(answer.body);
    });
    app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/api/now/*', handler: (request, reply) => this.#table(request, reply) });
  }

  async #table(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const arrived = performance.now();
    const path = request.url.split('?', 1)[0]!;
    const stats = STATS_ROUTE.exec(path);
    const attachment = ATTACHMENT_ROUTE.exec(path);
    const match = stats === null && attachment === null ? TABLE_ROUTE.exec(path) : null;
    if (match === null && stats === null && attachment === null) return this.#out.send(request, reply, failure(400, 'Requested URI does not represent any resource', null));
    const user = this.auth.authenticate(request.headers.authorization);
    if (user === undefined) {
      return this.#out.send(request, reply, failure(401, 'User Not Authenticated', 'Required to provide Auth information', { 'www-authenticate': 'BASIC realm="Service-now"', connection: 'close' }));
    }
    if (attachment !== null) return this.#attachment(request, reply, attachment, user);
    const [, version, tableName = '', sysId] = match ?? stats!;
    const rate = this.#rates.check(user, tableName, request.method);
    const rateHeaders: Record<string, string> = rate.matched ? { 'x-ratelimit-limit': String(rate.limit), 'x-ratelimit-reset': String(rate.resetS), 'x-ratelimit-rule': rate.ruleId } : {};
    if (rate.matched && !rate.allowed) {
      return this.#out.send(request, reply, failure(429, 'Rate limit exceeded', `Rate limit of ${rate.limit} requests per hour for Table API exceeded`, { ...rateHeaders, 'retry-after': String(rate.retryAfterS) }));
    }
    const slot = await this.#enterQueue(request, reply, rateHeaders);
    if (slot === undefined) return;
    try {
      const waitedMs = performance.now() - arrived;
      if (waitedMs >= this.options.maxTransactionMs) {
        this.#stats.cancelled++;
        return this.#out.send(request, reply, failure(500, TRANSACTION_CANCELLED, null));
      }
      const table = this.data.table(tableName);
      const answer = table === undefined ? failure(400, `Invalid table ${tableName}`, null)
        : stats !== null ? (request.method === 'GET' || request.method === 'HEAD' ? aggregateAnswer(this.data, table, request.query as Query, this.#api.queryOf(table, request.query as Query)) : failure(405, 'Method not Supported', null))
          : this.#answer(request, table, sysId, version, path, user);
      Object.assign(answer.headers, rateHeaders, { 'server-timing': `sem_wait;dur=${Math.round(waitedMs)}, sesh_wait;dur=0` });
      await this.#out.work(request, reply, answer, waitedMs);
    } finally {
      slot();
    }
  }

  /** A place among the workers (the API_INT semaphores), or a 429 sent when the queue is full: then undefined. */
  async #enterQueue(request: FastifyRequest, reply: FastifyReply, rateHeaders: Record<string, string>): Promise<(() => void) | undefined> {
    const slot = await this.#queue.enter();
    if (slot !== undefined) return slot;
    this.#stats.queueRejected++;
    this.#out.send(request, reply, failure(429, 'Too Many Requests', 'The API_INT semaphore queue is full', rateHeaders));
    return undefined;
  }

  /** `https://instance` as the caller reached it: for Location, reference and download links. */
  #baseUrl(request: FastifyRequest): string {
    return `${request.protocol}://${request.headers.host ?? `127.0.0.1:${this.#port}`}`;
  }

  /** The Attachment API, behind the same queue as the Table API. */
  async #attachment(request: FastifyRequest, reply: FastifyReply, [, id, file]: RegExpExecArray, user: string): Promise<void> {
    const readOnly = this.options.users.find((u) => u.user_name === user)?.readOnly === true;
    if (request.method !== 'GET' && request.method !== 'HEAD' && readOnly) return this.#out.send(request, reply, failure(403, 'Operation Failed', 'ACL Exception Insert Failed due to security constraints'));
    const slot = await this.#enterQueue(request, reply, {});
    if (slot === undefined) return;
    try {
      const answer = await this.#attachments.answer(request, id, file !== undefined, user, this.#baseUrl(request));
      if ('file' in answer) {
        this.#stats.byStatus['200'] = (this.#stats.byStatus['200'] ?? 0) + 1;
        void reply.code(200).headers({ 'content-type': answer.contentType, 'x-attachment-metadata': '' }).send(request.method === 'HEAD' ? undefined : answer.file);
        return;
      }
      this.#out.send(request, reply, answer);
    } finally {
      slot();
    }
  }

  #answer(request: FastifyRequest, table: NonNullable<ReturnType<InstanceData['table']>>, sysId: string | undefined, version: string | undefined, path: string, user: string): ApiAnswer {
    const query = request.query as Query;
    const baseUrl = this.#baseUrl(request);
    const readOnly = this.options.users.find((u) => u.user_name === user)?.readOnly === true || table.def.name === 'sys_audit_delete';
    if (request.method !== 'GET' && readOnly) return failure(403, 'Operation Failed', 'ACL Exception Update Failed due to security constraints');
    switch (request.method) {
      case 'GET':
      case 'HEAD': // GET without the body (#send leaves it out): never the default below, a delete (issue 17)
        return sysId === undefined ? this.#api.list(table, query, { baseUrl, path, version, hidden: this.faults.hiddenTables.includes(table.def.name) }) : this.#api.read(table, sysId, query, baseUrl);
      case 'POST': return sysId === undefined ? this.#api.create(table, request.body, user, query, baseUrl) : failure(405, 'Method not Supported', null);
      case 'PUT':
      case 'PATCH': return sysId === undefined ? failure(405, 'Method not Supported', null) : this.#api.update(table, sysId, request.body, user, query, baseUrl);
      case 'DELETE': return sysId === undefined ? failure(405, 'Method not Supported', null) : this.#api.delete(table, sysId, user);
      default: return failure(405, 'Method not Supported', null);
    }
  }

  /** Changes the live activity to `perSecond` writes a second (0 stops it). */
  setChurn(perSecond: number): void {
    this.#churn?.stop();
    this.#churn = perSecond > 0 ? new Churn(this.data, perSecond, seededRandom(this.options.seed ^ 0xc4 ^ this.#clock.wallNow()), this.#clock) : undefined;
  }

  /** Stops listening for `ms` (connects get ECONNREFUSED), then listens on the same port again. */
  refuseFor(ms: number): Promise<void> {
    return this.#refusals.refuseFor(ms);
  }

  async close(): Promise<void> {
    this.#refusals.stop();
    this.#churn?.stop();
    this.#queue.close();
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all([this.#app.close(), this.#admin?.close()]);
  }
}
