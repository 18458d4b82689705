import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export interface SimulatorProcess {
  url: string;
  adminUrl: string;
  child: ChildProcess;
  stats(): Promise<{ requests: number; byStatus: Record<string, number> }>;
  close(): Promise<void>;
}

/**
 * `holdfast simulate servicenow` in a child process, so that the simulator has a core
 * of its own and is not the benchmark's bottleneck. Works from the tsc build
 * (.bench-build/bench → .bench-build/src) and under tsx (bench → src, with tsx's
 * --import inherited through execArgv).
 */
export async function startSimulatorProcess(args: string[]): Promise<SimulatorProcess> {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  const main = new URL(`../src/cli/main.${ext}`, import.meta.url).pathname;
  const child = spawn(process.execPath, [...process.execArgv, main, 'simulate', 'servicenow', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  // Never outlive the benchmark, whatever way it ends.
  const orphanGuard = () => child.kill('SIGKILL');
  process.once('exit', orphanGuard);
  child.once('close', () => process.off('exit', orphanGuard));
  let out = '';
  const listening = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (\S+) \(admin (\S+)\)/.exec(out);
      if (match !== null) resolve(match);
    });
    child.once('close', () => reject(new Error(`the simulator exited: ${out}`)));
  });
  const [, url, adminUrl] = listening as unknown as [string, string, string];
  return {
    url, adminUrl, child,
    async stats() {
      const res = await fetch(`${adminUrl}/stats`);
      return (await res.json()) as { requests: number; byStatus: Record<string, number> };
    },
    async close() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'close');
    },
  };
}
