// The agent REST client's failures are typed: an error answer keeps the agent's code and status,
// no answer in time is an AgentTimeoutError, a missing socket is AGENT_ERR_UNREACHABLE; callers
// (cilium-cni, cilium-dbg) branch on the code, never on the message.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '../../../controllers/agent/api/client.js';
import {
  AgentApiError,
  AgentErrorCode,
  AgentTimeoutError,
  isAgentUnavailable,
} from '../../../controllers/agent/errors.js';

let dir: string;
let answering: Server;
let silent: NetServer;
const held: Socket[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kts-agent-client-'));
  answering = createHttpServer((req, res) => {
    if (req.url?.endsWith('/endpoint/7'))
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ code: AgentErrorCode.NotFound, message: 'endpoint 7 not found' }));
    else res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway');
  });
  silent = createNetServer((c) => void held.push(c));
  await new Promise<void>((r) => answering.listen(join(dir, 'agent.sock'), r));
  await new Promise<void>((r) => silent.listen(join(dir, 'silent.sock'), r));
});

afterAll(async () => {
  for (const c of held) c.destroy();
  await new Promise((r) => answering.close(r));
  await new Promise((r) => silent.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('AgentClient failures', () => {
  it('an error answer is an AgentApiError with the agent code and the HTTP status', async () => {
    const e = await new AgentClient({ socketPath: join(dir, 'agent.sock') }).endpointGet('7').catch((x) => x);
    expect(e).toBeInstanceOf(AgentApiError);
    expect(e).toMatchObject({ code: AgentErrorCode.NotFound, status: 404, message: 'endpoint 7 not found' });
    expect(isAgentUnavailable(e)).toBe(false);
  });

  it('an answer without an agent code is AGENT_ERR_UNEXPECTED_ANSWER, keeping the status', async () => {
    const e = await new AgentClient({ socketPath: join(dir, 'agent.sock') }).healthz().catch((x) => x);
    expect(e).toMatchObject({ code: AgentErrorCode.UnexpectedAnswer, status: 502 });
  });

  it('no answer within the timeout is an AgentTimeoutError', async () => {
    const e = await new AgentClient({ socketPath: join(dir, 'silent.sock'), timeoutMs: 200 }).healthz().catch((x) => x);
    expect(e).toBeInstanceOf(AgentTimeoutError);
    expect(e).toMatchObject({ code: AgentErrorCode.Timeout, timeoutMs: 200 });
    expect(isAgentUnavailable(e)).toBe(true);
  });

  it('a missing socket is AGENT_ERR_UNREACHABLE with the socket error as cause', async () => {
    const e = await new AgentClient({ socketPath: join(dir, 'absent.sock') }).healthz().catch((x) => x);
    expect(e).toMatchObject({ code: AgentErrorCode.Unreachable, cause: expect.objectContaining({ code: 'ENOENT' }) });
    expect(isAgentUnavailable(e)).toBe(true);
  });
});
