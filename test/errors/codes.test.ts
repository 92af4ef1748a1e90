// The error model across the repository: every area has one errors module that exports its code
// constants (`<AREA>_ERR_*`, one prefix per module) and every error class; codes are unique; a code
// is a field, never text inside a message. The test finds the modules itself, so a new area is
// checked as soon as it has an errors.ts.
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { AgentApiError, AgentError, AgentTimeoutError, IpamError } from '../../controllers/agent/errors.js';
import {
  ApiError as FrameworkApiError,
  ConfigError,
  FrameworkError,
  PermanentError,
  TemporaryError,
  apiErrorFromStatus,
} from '../../controllers/framework/errors.js';
import { OperatorError, PoolError } from '../../controllers/operator/errors.js';
import { KvstoreError } from '../../controllers/kvstore/errors.js';
import { CniError, errorResult } from '../../cni/errors.js';
import { CrdError, CrdValidationException } from '../../crds/errors.js';
import { DatapathError, fromAddon } from '../../datapath/errors.js';
import * as apiserver from '../../devcluster/apiserver/errors.js';
import { CniCallError, KubeletRequestError, NodesError } from '../../devcluster/nodes/errors.js';
import { HubbleError, toGrpcError } from '../../hubble/errors.js';
import { HubbleUiError } from '../../hubble-ui/errors.js';
import { PolicyError } from '../../policy/errors.js';
import { BodyFramingError, HttpRequestError, ProxyError } from '../../proxy/errors.js';
import { WhatIfError } from '../../whatif/errors.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CODE = /^([A-Z][A-Z0-9]*)_ERR_[A-Z0-9_]+$/;
const CODE_IN_TEXT = /\b[A-Z][A-Z0-9]*_ERR_[A-Z0-9_]+\b/;
const SKIP = new Set(['node_modules', 'dist', 'build', 'test', '.git', '.devcluster']);

/** Every file of ours under the repository root, tests and build output aside. */
function sources(dir = REPO, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.') || SKIP.has(e.name)) continue;
    const path = join(dir, e.name);
    if (e.isDirectory()) sources(path, out);
    else out.push(relative(REPO, path));
  }
  return out;
}

const FILES = sources();
const ERROR_MODULES = FILES.filter((f) => f.endsWith('/errors.ts')).sort();

interface Area {
  module: string;
  prefix: string;
  /** export name → its code constants. */
  tables: Record<string, string[]>;
  classes: string[];
}

async function loadAreas(): Promise<Area[]> {
  const areas: Area[] = [];
  for (const module of ERROR_MODULES) {
    const exports = (await import(join(REPO, module))) as Record<string, unknown>;
    const tables: Record<string, string[]> = {};
    const classes: string[] = [];
    for (const [name, value] of Object.entries(exports)) {
      if (typeof value === 'function' && value.prototype instanceof Error) classes.push(name);
      else if (name.endsWith('ErrorCode') && value && typeof value === 'object')
        tables[name] = Object.values(value as Record<string, unknown>).map(String);
    }
    const prefixes = new Set(
      Object.values(tables)
        .flat()
        .map((c) => CODE.exec(c)?.[1]),
    );
    areas.push({ module, prefix: [...prefixes].join(','), tables, classes });
  }
  return areas;
}

const areas = await loadAreas();
const ALL_CODES = areas.flatMap((a) => Object.values(a.tables).flat());
const KNOWN = new Set(ALL_CODES);

describe('error codes', () => {
  it('every area has its errors module', () => {
    expect(ERROR_MODULES).toEqual(
      expect.arrayContaining([
        'cni/errors.ts',
        'controllers/agent/errors.ts',
        'controllers/framework/errors.ts',
        'controllers/operator/errors.ts',
        'crds/errors.ts',
        'datapath/errors.ts',
        'devcluster/apiserver/errors.ts',
        'devcluster/nodes/errors.ts',
        'hubble/errors.ts',
        'policy/errors.ts',
      ]),
    );
  });

  it('each errors module exports its code constants and at least one error class', () => {
    for (const a of areas) {
      expect({ module: a.module, tables: Object.keys(a.tables).length > 0 }).toEqual({
        module: a.module,
        tables: true,
      });
      expect({ module: a.module, classes: a.classes.length > 0 }).toEqual({ module: a.module, classes: true });
    }
  });

  it('every code is <AREA>_ERR_*, with one prefix per module and no prefix shared by two modules', () => {
    for (const code of ALL_CODES) expect(code).toMatch(CODE);
    const byPrefix = new Map<string, string>();
    for (const a of areas) {
      expect({ module: a.module, prefixes: a.prefix.split(',').length }).toEqual({ module: a.module, prefixes: 1 });
      expect({ prefix: a.prefix, module: byPrefix.get(a.prefix) ?? a.module }).toEqual({
        prefix: a.prefix,
        module: a.module,
      });
      byPrefix.set(a.prefix, a.module);
    }
  });

  it('no code is defined twice, across modules or within one', () => {
    const seen = new Map<string, string>();
    const duplicates: string[] = [];
    for (const a of areas)
      for (const [table, codes] of Object.entries(a.tables))
        for (const code of codes) {
          const where = `${a.module} ${table}`;
          if (seen.has(code)) duplicates.push(`${code}: ${seen.get(code)} and ${where}`);
          seen.set(code, where);
        }
    expect(duplicates).toEqual([]);
  });
});

/** Every string and template piece in a TypeScript file (comments are not nodes, so they are skipped). */
function literals(file: string): { text: string; whole: boolean; line: number }[] {
  const text = readFileSync(join(REPO, file), 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: { text: string; whole: boolean; line: number }[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n) || ts.isTemplateLiteralToken(n))
      out.push({
        text: n.text,
        whole: ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n),
        line: sf.getLineAndCharacterOfPosition(n.getStart()).line + 1,
      });
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe('codes in the source', () => {
  const tsFiles = FILES.filter((f) => f.endsWith('.ts'));

  it('a code is written only as a whole literal (a constant or a typed argument), never inside a text', () => {
    const offenders: string[] = [];
    for (const file of tsFiles)
      for (const l of literals(file))
        if (CODE_IN_TEXT.test(l.text) && !(l.whole && CODE.test(l.text)))
          offenders.push(`${file}:${l.line}: ${JSON.stringify(l.text)}`);
    expect(offenders).toEqual([]);
  });

  it('every code literal in the source is one an errors module defines', () => {
    const unknown: string[] = [];
    for (const file of tsFiles)
      for (const l of literals(file))
        if (l.whole && CODE.test(l.text) && !KNOWN.has(l.text)) unknown.push(`${file}:${l.line}: ${l.text}`);
    // the native addon throws its own codes (napi_throw_*(env, "CODE", msg)); they are registered too
    for (const file of FILES.filter((f) => /\.[ch]$/.test(f)))
      for (const m of readFileSync(join(REPO, file), 'utf8').matchAll(/napi_throw_\w*\(\s*\(?env\)?\s*,\s*"([^"]+)"/g))
        if (!KNOWN.has(m[1]!)) unknown.push(`${file}: ${m[1]}`);
    expect(unknown).toEqual([]);
  });

  it('no error class is declared outside an errors module', () => {
    const outside = tsFiles.filter(
      (f) =>
        !f.endsWith('/errors.ts') &&
        /\bclass\s+\w+\s+extends\s+\w*(Error|Exception)\b/.test(readFileSync(join(REPO, f), 'utf8')),
    );
    expect(outside).toEqual([]);
  });
});

const cause = new Error('the cause');
const codesOf = (module: string, table: string): string[] => areas.find((a) => a.module === module)!.tables[table]!;
const outcome = { exitCode: 1, stdout: '', stderr: '', ms: 1, json: { code: 7, msg: 'bad config' } };

/** How to build each exported class for a code (and, where it takes one, with a cause). */
const BUILD: Record<string, { codes: string[]; make: (code: string) => Error; keepsCause?: boolean }> = {
  'controllers/framework/errors.ts FrameworkError': {
    codes: codesOf('controllers/framework/errors.ts', 'FrameworkErrorCode'),
    make: (c) => new FrameworkError(c, 'message', { cause }),
    keepsCause: true,
  },
  'controllers/framework/errors.ts ApiError': {
    codes: codesOf('controllers/framework/errors.ts', 'FrameworkErrorCode'),
    make: (c) => new FrameworkApiError(c as never, 404, 'NotFound', 'message'),
  },
  'controllers/framework/errors.ts TemporaryError': {
    codes: ['KTS_ERR_RECONCILE_TEMPORARY'],
    make: () => new TemporaryError('message', 10, { cause }),
    keepsCause: true,
  },
  'controllers/framework/errors.ts PermanentError': {
    codes: ['KTS_ERR_RECONCILE_PERMANENT'],
    make: () => new PermanentError('message', { cause }),
    keepsCause: true,
  },
  'controllers/framework/errors.ts ConfigError': {
    codes: ['AGENT_ERR_CONFIG', 'OPERATOR_ERR_CONFIG'],
    make: (c) => new ConfigError(c as never, 'key', 'value', 'reason'),
  },
  'controllers/agent/errors.ts AgentError': {
    codes: codesOf('controllers/agent/errors.ts', 'AgentErrorCode'),
    make: (c) => new AgentError(c as never, 'message', { cause }),
    keepsCause: true,
  },
  'controllers/agent/errors.ts IpamError': {
    codes: ['AGENT_ERR_IPAM_EXHAUSTED', 'AGENT_ERR_IPAM_NOT_READY'],
    make: (c) => new IpamError(c as never, 'message'),
  },
  'controllers/agent/errors.ts AgentApiError': {
    codes: codesOf('controllers/agent/errors.ts', 'AgentErrorCode'),
    make: (c) => new AgentApiError(500, c, 'message'),
  },
  'controllers/agent/errors.ts AgentTimeoutError': {
    codes: ['AGENT_ERR_TIMEOUT'],
    make: () => new AgentTimeoutError('message', 100),
  },
  'controllers/operator/errors.ts OperatorError': {
    codes: codesOf('controllers/operator/errors.ts', 'OperatorErrorCode'),
    make: (c) => new OperatorError(c as never, 'message', { cause }),
    keepsCause: true,
  },
  'controllers/kvstore/errors.ts KvstoreError': {
    codes: codesOf('controllers/kvstore/errors.ts', 'KvstoreErrorCode'),
    make: (c) => new KvstoreError(c as never, 'message', { cause }),
    keepsCause: true,
  },
  'controllers/operator/errors.ts PoolError': {
    codes: ['OPERATOR_ERR_IPAM_POOL_EXHAUSTED', 'OPERATOR_ERR_IPAM_BAD_CONFIG'],
    make: (c) => new PoolError(c as never, 'message'),
  },
  'cni/errors.ts CniError': {
    codes: codesOf('cni/errors.ts', 'CniErrorCode'),
    make: (c) => new CniError(c as never, 'message', { details: 'details', cause }),
    keepsCause: true,
  },
  'crds/errors.ts CrdError': {
    codes: codesOf('crds/errors.ts', 'CrdErrorCode'),
    make: (c) => new CrdError(c as never, 'message', { cause }),
    keepsCause: true,
  },
  'crds/errors.ts CrdValidationException': {
    codes: ['CRD_ERR_INVALID_OBJECT'],
    make: () =>
      new CrdValidationException(
        'CiliumNetworkPolicy',
        'p',
        codesOf('crds/errors.ts', 'CrdErrorCode').map((code) => ({
          code: code as never,
          field: 'spec',
          message: 'wrong',
          stage: 'schema' as const,
        })),
      ),
  },
  'datapath/errors.ts DatapathError': {
    codes: codesOf('datapath/errors.ts', 'DatapathErrorCode'),
    make: (c) => new DatapathError(c as never, 'message', 'EINVAL', { cause }),
    keepsCause: true,
  },
  'devcluster/apiserver/errors.ts ApiError': {
    codes: codesOf('devcluster/apiserver/errors.ts', 'ApiServerErrorCode'),
    make: (c) => new apiserver.ApiError(500, 'InternalError', 'message', c as never, undefined, { cause }),
    keepsCause: true,
  },
  'devcluster/nodes/errors.ts NodesError': {
    codes: codesOf('devcluster/nodes/errors.ts', 'NodesErrorCode'),
    make: (c) => new NodesError(c as never, 'message', { cause }),
    keepsCause: true,
  },
  'devcluster/nodes/errors.ts CniCallError': {
    codes: ['NODES_ERR_CNI_CALL'],
    make: () => new CniCallError(outcome, 'CNI ADD c1'),
  },
  'devcluster/nodes/errors.ts KubeletRequestError': {
    codes: ['NODES_ERR_KUBELET_REQUEST'],
    make: () => new KubeletRequestError(400, 'BadRequest', 'container c is not valid for pod p'),
  },
  'hubble/errors.ts HubbleError': {
    codes: codesOf('hubble/errors.ts', 'HubbleErrorCode'),
    make: (c) => new HubbleError(c as never, 'message', { cause }),
    keepsCause: true,
  },
  'policy/errors.ts PolicyError': {
    codes: codesOf('policy/errors.ts', 'PolicyErrorCode'),
    make: (c) => new PolicyError(c as never, 'message', { cause }),
    keepsCause: true,
  },
  'hubble-ui/errors.ts HubbleUiError': {
    codes: codesOf('hubble-ui/errors.ts', 'HubbleUiErrorCode'),
    make: (c) => new HubbleUiError(c as never, 'message', { cause }),
    keepsCause: true,
  },
  'whatif/errors.ts WhatIfError': {
    codes: codesOf('whatif/errors.ts', 'WhatIfErrorCode'),
    make: (c) => new WhatIfError(c as never, 'message', { cause }),
    keepsCause: true,
  },
  'proxy/errors.ts ProxyError': {
    codes: codesOf('proxy/errors.ts', 'ProxyErrorCode'),
    make: (c) => new ProxyError(c as never, 'message', { cause }),
    keepsCause: true,
  },
  'proxy/errors.ts HttpRequestError': {
    codes: ['PROXY_ERR_BAD_HTTP_REQUEST'],
    make: () => new HttpRequestError(400, 'message'),
  },
  'proxy/errors.ts BodyFramingError': {
    codes: ['PROXY_ERR_BAD_HTTP_BODY'],
    make: () => new BodyFramingError(false, 'message'),
  },
};

describe('constructed errors', () => {
  it('every exported error class is covered here', () => {
    const exported = areas.flatMap((a) => a.classes.map((c) => `${a.module} ${c}`)).sort();
    expect(exported).toEqual(Object.keys(BUILD).sort());
  });

  it.each(Object.entries(BUILD))('%s: a string code of its area, not in the message, cause kept', (_, b) => {
    for (const code of b.codes) {
      const e = b.make(code) as Error & { code: unknown };
      expect({ code: e.code, known: KNOWN.has(String(e.code)) }).toEqual({ code, known: true });
      expect(e.message).not.toMatch(CODE_IN_TEXT);
      if (b.keepsCause) expect(e.cause).toBe(cause);
    }
  });

  it("the API server's factories: HTTP status and reason apart from the code, none of it in the message", () => {
    const made = [
      apiserver.notFound('pods', '', 'p'),
      apiserver.unknownPath(),
      apiserver.alreadyExists('pods', '', 'p'),
      apiserver.conflict('pods', '', 'p'),
      apiserver.invalid('Pod', '', 'p', [apiserver.fieldError.required('spec')]),
      apiserver.badRequest('bad'),
      apiserver.tooLarge(),
      apiserver.expired('too old'),
      apiserver.unsupportedMediaType('text/plain', ['application/json']),
      apiserver.methodNotAllowed('PATCH'),
      apiserver.forbidden('no'),
      apiserver.unauthorized(),
      apiserver.timeout('slow'),
      apiserver.internal(cause),
    ];
    for (const e of made) {
      expect(KNOWN.has(e.code)).toBe(true);
      expect(typeof e.status).toBe('number');
      expect(e.message).not.toMatch(CODE_IN_TEXT);
      expect(e.toStatus()).toMatchObject({ kind: 'Status', code: e.status, reason: e.reason, message: e.message });
      expect(JSON.stringify(e.toStatus())).not.toMatch(CODE_IN_TEXT);
    }
    // a missing object and an unknown path are told apart by code, not by the wire body
    expect(apiserver.notFound('pods', '', 'p').code).not.toBe(apiserver.unknownPath().code);
    expect(apiserver.internal(cause).cause).toBe(cause);
  });

  it('converters keep the code a field: API answers, addon errors, gRPC status, CNI error results', () => {
    for (const status of [401, 403, 404, 409, 410, 422, 429, 500, 504]) {
      const e = apiErrorFromStatus(status, { reason: 'R', message: 'm' }, 'GET /x');
      expect(KNOWN.has(e.code)).toBe(true);
      expect(e.message).not.toMatch(CODE_IN_TEXT);
    }
    for (const errno of ['E2BIG', 'EPERM', 'ENOENT', 'EOPNOTSUPP', 'EINVAL', 'EIO']) {
      const addon = Object.assign(new Error(`${errno} failure`), { code: errno, syscall: 'bpf_map_update_elem' });
      const e = fromAddon(addon, { op: 'update', map: { name: 'm', maxEntries: 1 } }) as DatapathError;
      expect(KNOWN.has(e.code)).toBe(true);
      expect(e.message).not.toMatch(CODE_IN_TEXT);
      expect(e.cause).toBe(addon);
    }
    // the gRPC details and the CNI result's details are formatted output: they start with the code
    const grpc = toGrpcError(new HubbleError('HUBBLE_ERR_BAD_FILTER', 'bad'));
    expect(grpc).toMatchObject({ code: 3, details: 'HUBBLE_ERR_BAD_FILTER: bad' });
    expect(errorResult('1.1.0', new CniError('CNI_ERR_INVALID_CONFIG', 'bad', { details: 'why' }))).toEqual({
      cniVersion: '1.1.0',
      code: 7,
      msg: 'bad',
      details: 'CNI_ERR_INVALID_CONFIG: why',
    });
  });
});
