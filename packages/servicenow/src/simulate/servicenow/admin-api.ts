import Fastify, { type FastifyInstance } from 'fastify';
import { z } from 'zod';
import { HoldfastError } from 'holdfast/internal/errors.js';
import { parseFaults, type Faults } from './options.js';

/** What the admin endpoint drives: a ServiceNowSimulator (an interface, so that neither file imports the other). */
export interface AdminTarget {
  faults: Faults;
  refuseFor(ms: number): Promise<void>;
  stats(): unknown;
  readonly auth: { revoke(who: { refreshToken?: string; user?: string }): number };
  readonly data: { save(path: string): Promise<void> };
}

const refuseBody = z.strictObject({ ms: z.number().int().positive().max(600_000) });
const revokeBody = z.strictObject({ refresh_token: z.string().optional(), user: z.string().optional() });

/**
 * The simulator's admin endpoint, on its own listener (loopback by default), so
 * that it stays reachable while the instance refuses connections:
 *
 *   GET  /faults          the current faults        PUT /faults   replace them (JSON)
 *   POST /refuse {ms}     refuse connections now    GET /stats    counters
 *   POST /revoke {refresh_token | user}             revoke OAuth tokens
 *   POST /save {path}     write the data to a state file
 */
export async function startAdmin(sim: AdminTarget, host: string, port: number): Promise<FastifyInstance> {
  const app = Fastify();
  app.setErrorHandler((err: Error & { statusCode?: number }, _request, reply) => {
    const status = err instanceof HoldfastError || err instanceof z.ZodError ? 400 : (err.statusCode ?? 500);
    void reply.code(status).send({ error: err instanceof z.ZodError ? z.prettifyError(err) : err.message });
  });
  app.get('/faults', async () => sim.faults);
  app.put('/faults', async (request) => {
    sim.faults = parseFaults(request.body);
    return sim.faults;
  });
  app.post('/refuse', async (request) => {
    const { ms } = refuseBody.parse(request.body);
    void sim.refuseFor(ms);
    return { refusingForMs: ms };
  });
  app.get('/stats', async () => sim.stats());
  app.post('/revoke', async (request) => {
    const body = revokeBody.parse(request.body);
    return { revoked: sim.auth.revoke({ refreshToken: body.refresh_token, user: body.user }) };
  });
  app.post('/save', async (request) => {
    const { path } = z.strictObject({ path: z.string().min(1) }).parse(request.body);
    await sim.data.save(path);
    return { saved: path };
  });
  await app.listen({ host, port });
  return app;
}
