// The plugin as a function of its inputs (environment and stdin) to its outputs (stdout and exit
// status), so tests can drive it in-process and the executable is a thin shell around it.
import { appendFileSync } from 'node:fs';
import { LATEST_VERSION, parseCommand, parseInvocation, versionOf, type Command } from './config.js';
import { errorResult } from './errors.js';
import { addSteps, cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus } from './plugin.js';
import { versionResult } from './result.js';

export interface PluginOutput {
  stdout: string;
  exitCode: number;
}

export async function runPlugin(env: NodeJS.ProcessEnv, stdin: string): Promise<PluginOutput> {
  const started = performance.now();
  const cniVersion = stdin.trim() ? versionOf(stdin) : LATEST_VERSION;
  let command: Command | undefined;
  let logFile = '';
  let debug = false;
  let outcome: string;
  let out: PluginOutput;
  try {
    command = parseCommand(env);
    if (command === 'VERSION') {
      // Runtimes probe with dummy CNI_* values: VERSION reads nothing but cniVersion.
      out = { stdout: JSON.stringify(versionResult(cniVersion)), exitCode: 0 };
      outcome = 'ok';
    } else {
      const inv = parseInvocation(command, env, stdin);
      logFile = inv.conf.logFile;
      debug = inv.conf.debug;
      let body: unknown;
      if (command === 'ADD') body = await cmdAdd(inv);
      else if (command === 'DEL') outcome = JSON.stringify(await cmdDel(inv));
      else if (command === 'CHECK') await cmdCheck(inv);
      else if (command === 'STATUS') await cmdStatus(inv);
      else outcome = `removed ${(await cmdGc(inv)).join(',') || 'nothing'}`;
      out = { stdout: body === undefined ? '' : JSON.stringify(body), exitCode: 0 };
      outcome ??= 'ok';
    }
  } catch (e) {
    const r = errorResult(cniVersion, e);
    out = { stdout: JSON.stringify(r), exitCode: 1 };
    outcome = `error ${r.code}: ${r.msg}`;
  }
  if (logFile) {
    const line = {
      time: new Date().toISOString(),
      command,
      containerId: env.CNI_CONTAINERID,
      ifName: env.CNI_IFNAME,
      netns: env.CNI_NETNS,
      ms: +(performance.now() - started).toFixed(2),
      // since the process started (Node's own start-up included), and ADD's steps
      sinceStartMs: Math.round(performance.now()),
      ...(command === 'ADD' ? { steps: addSteps } : {}),
      outcome,
      ...(debug ? { stdout: out.stdout } : {}),
    };
    try {
      appendFileSync(logFile, JSON.stringify(line) + '\n');
    } catch {
      // a log that cannot be written never fails the runtime's call
    }
  }
  return out;
}
