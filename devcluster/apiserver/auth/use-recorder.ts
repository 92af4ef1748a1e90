// The record of what each user was allowed or denied, for comparing a component's actual use with
// its role: one JSON line per distinct (user, verb, group, resource, subresource, decision), in the
// spirit of an audit log at the Metadata level but deduplicated, so a long run stays small.
import { appendFileSync } from 'node:fs';
import type { Attributes } from './attributes.js';

export interface UseRecord {
  user: string;
  verb: string;
  /** Resource requests: group, resource and subresource; non-resource requests: the path. */
  group?: string;
  resource?: string;
  subresource?: string;
  path?: string;
  /** The first namespace it was seen in (cluster scope: absent). */
  namespace?: string;
  allowed: boolean;
}

export class UseRecorder {
  private readonly seen = new Set<string>();

  constructor(private readonly file: string) {}

  record(a: Attributes, allowed: boolean): void {
    const r: UseRecord = a.isResourceRequest
      ? { user: a.user.name, verb: a.verb, group: a.apiGroup, resource: a.resource, allowed }
      : { user: a.user.name, verb: a.verb, path: a.path, allowed };
    if (a.isResourceRequest && a.subresource) r.subresource = a.subresource;
    const key = JSON.stringify(r);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (a.namespace) r.namespace = a.namespace;
    appendFileSync(this.file, JSON.stringify(r) + '\n');
  }
}
