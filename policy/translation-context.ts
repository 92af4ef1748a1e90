// What translating one policy object collects besides its rules: the features it uses that we do not
// enforce, its problems, and the prefixes that need CIDR identities.
import type { Prefix } from '../crds/cidr.js';
import { parsePrefix, prefixContains } from '../crds/cidr.js';
import type { EndpointSelector } from '../crds/common.js';
import { type NotEnforced, type PolicyProblem, PolicyErrorCode, problem } from './errors.js';
import { fqdnPeerSelector } from './fqdn-identities.js';
import { compileFqdnSelector, type FqdnSelector } from './fqdn-selector.js';
import { normalizePrefix } from './identities.js';
import type { TranslateOptions } from './rule-model.js';
import { cidrSelector, compileSelector, confineToNamespace, type Selector } from './selector.js';

/** Mutable collector used while translating one object. */
export class TranslationContext {
  readonly notEnforced: NotEnforced[] = [];
  readonly problems: PolicyProblem[] = [];
  readonly prefixes: Prefix[] = [];
  readonly fqdnSelectors: FqdnSelector[] = [];
  constructor(
    readonly key: string,
    readonly namespace: string | undefined,
    readonly options: TranslateOptions,
  ) {}

  skip(feature: NotEnforced['feature'], field: string, message: string): void {
    this.notEnforced.push({ feature, source: this.key, field, message });
  }
  fail(code: PolicyProblem['code'], field: string, message: string): void {
    this.problems.push(problem(code, this.key, field, message));
  }
  /** A peer selector, scoped as upstream does (see confineToNamespace). */
  peer(sel: EndpointSelector | undefined, defaultSource: string = 'any'): Selector {
    return confineToNamespace(compileSelector(sel, defaultSource), this.namespace);
  }
  /** A CIDR selector (with its prefixes recorded for CIDR identities), or undefined if bad. */
  cidr(text: string, except: readonly string[], field: string): Selector | undefined {
    const p = typeof text === 'string' ? parsePrefix(text) : undefined;
    if (!p) {
      this.fail(PolicyErrorCode.BadCidr, field, `"${String(text)}" is not a CIDR; the entry is skipped`);
      return undefined;
    }
    const prefix = normalizePrefix(p);
    const ex: Prefix[] = [];
    except.forEach((e, i) => {
      const q = typeof e === 'string' ? parsePrefix(e) : undefined;
      if (!q || !prefixContains(prefix, q)) {
        this.fail(
          PolicyErrorCode.BadCidr,
          `${field}.except[${i}]`,
          `"${String(e)}" is not a CIDR inside ${text}; the exception is ignored`,
        );
        return;
      }
      ex.push(normalizePrefix(q));
    });
    this.prefixes.push(prefix, ...ex);
    return cidrSelector(prefix, ex);
  }
  /** A toFQDNs entry's peer selector (the selector recorded for the engine), or undefined if bad. */
  fqdn(entry: FqdnSelector, field: string): Selector | undefined {
    const c = compileFqdnSelector(entry ?? {});
    if (!c.ok) {
      this.fail(PolicyErrorCode.BadFqdn, field, `${c.reason}; the entry selects nothing`);
      return undefined;
    }
    const { matchName, matchPattern } = entry;
    this.fqdnSelectors.push(matchName !== undefined ? { matchName } : { matchPattern });
    return fqdnPeerSelector(c.key);
  }
}
