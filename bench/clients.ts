import http from 'node:http';
import axios, { type AxiosInstance } from 'axios';
import axiosRetry from 'axios-retry';
import got from 'got';
import { Agent, interceptors, request, type Dispatcher } from 'undici';
import { createAgent, createDispatcher, withAxios } from '../src/index.js';

export interface BenchRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

function gotClient(name: string, instance: typeof got): BenchClient {
  return {
    name,
    async send(url, req) {
      const res = await instance(new URL(req.path, url), { method: req.method, headers: req.headers, body: req.body });
      return res.statusCode;
    },
    close: async () => {},
  };
}

/** One HTTP client under test, as a new user would set it up. */
export interface BenchClient {
  name: string;
  /** Resolves with the final status, rejects on a transport error. */
  send(url: string, req: BenchRequest): Promise<number>;
  close(): Promise<void>;
}

function nodeHttp(agent: http.Agent = new http.Agent({ keepAlive: true })): BenchClient {
  return {
    name: 'node http.Agent',
    send: (url, req) => new Promise((resolve, reject) => {
      const r = http.request(new URL(req.path, url), { agent, method: req.method, headers: req.headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      r.on('error', reject);
      r.end(req.body);
    }),
    close: async () => agent.destroy(),
  };
}

function undiciClient(name: string, dispatcher: Dispatcher, close: () => Promise<void>): BenchClient {
  return {
    name,
    async send(url, req) {
      const res = await request(new URL(req.path, url), { dispatcher, method: req.method, headers: req.headers, body: req.body });
      await res.body.dump();
      return res.statusCode;
    },
    close,
  };
}

function axiosClient(name: string, instance: AxiosInstance): BenchClient {
  return {
    name,
    async send(url, req) {
      const res = await instance.request({ url: new URL(req.path, url).href, method: req.method, headers: req.headers, data: req.body });
      return res.status;
    },
    close: async () => {},
  };
}

export const CLIENT_NAMES = [
  'node http.Agent', 'undici Agent', 'undici + retry', 'axios', 'axios + axios-retry', 'got',
  'holdfast', 'got (4 retries) + holdfast createAgent', 'holdfast withAxios',
] as const;

/** Fresh instances of every client, each with its own pool. */
export function makeClients(only?: readonly string[]): BenchClient[] {
  const factories: Record<(typeof CLIENT_NAMES)[number], () => BenchClient> = {
    'node http.Agent': () => nodeHttp(),
    'undici Agent': () => {
      const agent = new Agent();
      return undiciClient('undici Agent', agent, () => agent.close());
    },
    'undici + retry': () => {
      const agent = new Agent();
      return undiciClient('undici + retry', agent.compose(interceptors.retry()), () => agent.close());
    },
    // axios and got use Node's global agent unless told otherwise, as most of their users do.
    axios: () => axiosClient('axios', axios.create({ validateStatus: () => true })),
    'axios + axios-retry': () => {
      const instance = axios.create({ validateStatus: () => true });
      axiosRetry(instance);
      return axiosClient('axios + axios-retry', instance);
    },
    got: () => gotClient('got', got.extend({ throwHttpErrors: false })),
    holdfast: () => {
      const dispatcher = createDispatcher();
      return undiciClient('holdfast', dispatcher, () => dispatcher.close());
    },
    // holdfast's agent has no retry layer: it runs under got, given as many retries as
    // holdfast's default (4), so that the row shows what the agent adds, not got's limit of 2.
    'got (4 retries) + holdfast createAgent': () => {
      const agent = createAgent();
      const instance = got.extend({ throwHttpErrors: false, agent: { http: agent }, retry: { limit: 4 } });
      return { ...gotClient('got (4 retries) + holdfast createAgent', instance), close: async () => agent.destroy() };
    },
    'holdfast withAxios': () => {
      const instance = withAxios(axios.create({ validateStatus: () => true }));
      return { ...axiosClient('holdfast withAxios', instance), close: async () => { instance.agents.http.destroy(); instance.agents.https.destroy(); } };
    },
  };
  return CLIENT_NAMES.filter((name) => only === undefined || only.includes(name)).map((name) => factories[name]());
}
