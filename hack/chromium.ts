// Debian's chromium (hack/setup.sh installs it) for the Hubble UI tests and benchmark, driven headless by playwright-core, never a
// browser download: the flags keep it off the network (no background requests, updates or sync).
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A fresh browser (playwright gives it a fresh --user-data-dir of its own); `extraArgs` e.g. `--js-flags=--expose-gc`. */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...extraArgs] });
}
