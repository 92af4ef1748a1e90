// The proxy's typed L7 events. They are Hubble's (hubble/types.ts): the agent hands each one to
// its observer (observeL7), which turns it into a flow.Flow of Type L7 with the endpoints it knows.
export type { DnsL7Event, HttpL7Event, L7Endpoint, L7Event, L7Peer } from '../hubble/types.js';
