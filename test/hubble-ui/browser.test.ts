// The Hubble UI in real Chromium (Debian's, driven headless by playwright-core) against a two-node
// devcluster running the demo app (hack/demo-app.ts) with its policies, traffic being real TCP
// from the pods: the map shows the namespaces' workloads and edges, a denied connection is a red
// edge and a table row with its drop reason, the detail pane names the deny rule or "no policy
// allows" with a suggested policy that — applied with kubectl — opens the connection, filters
// narrow the table and survive a reload, and a relay restart is recovered without a reload.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { KubeClient, testing } from '../../controllers/framework/index.js';
import { downDetached, upDetached } from '../../devcluster/cluster.js';
import { tcpFromPod, waitForPodCIDRs, waitForPods } from '../../devcluster/nodes/cluster-checks.js';
import type { NodesState } from '../../devcluster/nodes/layout.js';
import { downNodes, upNodes } from '../../devcluster/nodes/nodes.js';
import { APP, APP_NAMESPACES, APP_YAML, BACKEND_FROM_FRONTEND, FRONTEND_DENY_INTRUDER } from '../../hack/demo-app.js';
import { Kubectl } from '../e2e/harness.js';
import { launchChromium } from '../../hack/chromium.js';
import { PodTraffic } from './pod-traffic.js';

/** HUBBLE_UI_SCREENSHOTS=docs/images writes the screenshots the README shows. */
const SCREENSHOTS = process.env.HUBBLE_UI_SCREENSHOTS;
const dir = mkdtempSync(join(tmpdir(), 'kts-hubble-ui-'));
let state: NodesState;
let client: KubeClient;
let kubectl: Kubectl;
let browser: Browser;
let page: Page;
let ips = new Map<string, string>();

const tcp = (from: string, to: string, port: number): Promise<boolean> => tcpFromPod(dir, from, ips.get(to)!, port, 1);

const traffic = new PodTraffic();

/** Connections the test keeps opening: allowed, denied by a deny rule, and default-denied. */
async function startTraffic(): Promise<void> {
  const to = (pod: string, port = 8080) => ({ ip: ips.get(pod)!, port });
  await Promise.all([
    traffic.start(dir, 'shop/frontend', [to('shop/backend')]),
    traffic.start(dir, 'shop/intruder', [to('shop/frontend'), to('shop/backend')]),
    traffic.start(dir, 'data/reporting', [to('data/db')]),
  ]);
}

const row = (src: string, dst: string, verdict?: string) =>
  page.locator(
    `[data-testid=flow-row][data-source="${src}"][data-destination="${dst}"]${verdict ? `[data-verdict=${verdict}]` : ''}`,
  );
/** Opens a row's detail pane with the table paused (rows arriving would move it under the pointer). */
/** Each test starts from a live table with no pane open, whatever the one before left. */
async function settle(): Promise<void> {
  if (!page) return;
  if (await page.locator('[data-testid=detail-pane]').count()) {
    await page.keyboard.press('Escape');
    await page.locator('[data-testid=detail-pane]').waitFor({ state: 'detached', timeout: 5_000 });
  }
  if (await page.locator('[data-testid=paused-count]').count())
    await page.locator('[data-testid=pause-button]').click();
}
beforeEach(settle, 10_000);

async function openRow(src: string, dst: string, verdict: string): Promise<void> {
  if (!(await page.locator('[data-testid=paused-count]').count()))
    await page.locator('[data-testid=pause-button]').click();
  await page.locator('[data-testid=paused-count]').waitFor({ timeout: 5_000 });
  await row(src, dst, verdict).first().click();
}
async function closePane(): Promise<void> {
  await page.keyboard.press('Escape');
  await page.locator('[data-testid=detail-pane]').waitFor({ state: 'detached', timeout: 5_000 });
  await page.locator('[data-testid=pause-button]').click();
  await page.locator('[data-testid=paused-count]').waitFor({ state: 'detached', timeout: 5_000 });
}
const link = (src: string, dst: string) =>
  page.locator(`[data-testid=map-link][data-source="${src}"][data-destination="${dst}"]`);

beforeAll(async () => {
  try {
    await upDetached({ dir });
    state = await upNodes(dir, { nodes: 2 });
    client = KubeClient.fromFile(join(dir, 'kubeconfig'));
    kubectl = new Kubectl({ dir, kubeconfig: join(dir, 'kubeconfig') } as never);
    await waitForPodCIDRs(client, 2, 60_000);
    await kubectl.ok(['apply', '-f', '-'], APP_YAML);
    ips = await waitForPods(client, {
      count: APP.length,
      namespaces: APP_NAMESPACES,
      what: 'the app',
      timeoutMs: 90_000,
    });
    await testing.waitFor(async () => tcp('shop/frontend', 'shop/backend', 8080), {
      what: 'the servers to listen',
      timeoutMs: 30_000,
    });
    for (const p of [BACKEND_FROM_FRONTEND, FRONTEND_DENY_INTRUDER]) await kubectl.ok(['apply', '-f', '-'], p);
    // probed on other connections than intruder → backend, whose flows must all be drops
    await testing.waitFor(
      async () =>
        !(await tcp('data/reporting', 'shop/backend', 8080)) && !(await tcp('shop/intruder', 'shop/frontend', 8080)),
      { what: 'the policies to be enforced', timeoutMs: 30_000 },
    );
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  } catch (e) {
    await teardown();
    throw e;
  }
}, 300_000);

async function teardown(): Promise<void> {
  traffic.stop();
  await browser?.close().catch(() => undefined);
  kubectl?.stopAll();
  client?.close();
  await downNodes(dir).catch(() => undefined);
  await downDetached(dir).catch(() => undefined);
}
afterAll(teardown, 120_000);

describe('Hubble UI in Chromium', () => {
  it('the devcluster started hubble-ui and recorded its URL', () => {
    expect(state.hubbleUiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('shows the namespaces’ workloads and the edges between them within 5 s of traffic', async () => {
    await page.goto(`${state.hubbleUiUrl}?namespace=shop&namespace=data`);
    await page.locator('[data-testid=relay-status][data-state=connected]').waitFor({ timeout: 10_000 });
    // from the first connection each pod makes
    await startTraffic();
    const t0 = Date.now();
    await link('shop/frontend', 'shop/backend').first().waitFor({ timeout: 5_000 });
    await link('data/reporting', 'data/db')
      .first()
      .waitFor({ timeout: 5_000 - (Date.now() - t0) });
    for (const card of ['shop/frontend', 'shop/backend', 'shop/intruder', 'data/reporting', 'data/db'])
      await expect(page.locator(`[data-testid=map-card][data-card-id="${card}"]`).count()).resolves.toBe(1);
    await expect(page.locator('[data-testid=map-namespace]').count()).resolves.toBe(2);
    expect(await link('shop/frontend', 'shop/backend').first().getAttribute('data-verdict')).toBe('forwarded');
    expect(await link('shop/frontend', 'shop/backend').first().getAttribute('data-port')).toBe('8080/TCP');
    if (SCREENSHOTS) {
      await page.waitForTimeout(2000);
      await page.screenshot({ path: join(SCREENSHOTS, 'hubble-ui-map.png') });
    }
  }, 90_000);

  it('draws a denied connection as a red edge and a table row with its drop reason', async () => {
    await link('shop/intruder', 'shop/backend').first().waitFor({ timeout: 10_000 });
    expect(await link('shop/intruder', 'shop/backend').first().getAttribute('data-verdict')).toBe('dropped');
    const stroke = await link('shop/intruder', 'shop/backend').first().locator('path').getAttribute('stroke');
    expect(stroke).toBe('#e03131');
    await row('shop/intruder', 'shop/backend', 'DROPPED').first().waitFor({ timeout: 10_000 });
    expect(await row('shop/intruder', 'shop/backend', 'DROPPED').first().getAttribute('data-drop-reason')).toBe(
      'POLICY_DENIED',
    );
    await row('shop/intruder', 'shop/frontend', 'DROPPED').first().waitFor({ timeout: 10_000 });
    expect(await row('shop/intruder', 'shop/frontend', 'DROPPED').first().getAttribute('data-drop-reason')).toBe(
      'POLICY_DENY',
    );
  }, 30_000);

  it('names the deny rule of a POLICY_DENY drop in the detail pane', async () => {
    await openRow('shop/intruder', 'shop/frontend', 'DROPPED');
    const reason = page.locator('[data-testid=explain-reason]');
    await reason.waitFor({ timeout: 30_000 });
    expect(await reason.textContent()).toMatch(
      /^denied by CiliumNetworkPolicy\/shop\/frontend-deny-intruder .*ingressDeny\[0\]/,
    );
    expect(await page.locator('[data-testid=suggested-policy]').count()).toBe(0);
    await closePane();
  }, 60_000);

  it('says "no policy allows" for a default-deny drop; its suggested policy, applied, opens the connection', async () => {
    await openRow('shop/intruder', 'shop/backend', 'DROPPED');
    const reason = page.locator('[data-testid=explain-reason]');
    await reason.waitFor({ timeout: 30_000 });
    expect(await reason.textContent()).toMatch(
      /^no policy allows: default deny at the ingress of the destination shop\/backend/,
    );
    if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, 'hubble-ui-explain.png') });
    const yaml = await page.locator('[data-testid=suggested-policy]').textContent();
    expect(yaml).toContain('kind: CiliumNetworkPolicy');
    expect(await tcp('shop/intruder', 'shop/backend', 8080)).toBe(false);
    await kubectl.ok(['apply', '-f', '-'], yaml!);
    await testing.waitFor(() => tcp('shop/intruder', 'shop/backend', 8080), {
      what: 'the suggested policy to open intruder → backend',
      timeoutMs: 20_000,
    });
    // and only that: the intruder still may not reach the frontend (a deny rule)
    expect(await tcp('shop/intruder', 'shop/frontend', 8080)).toBe(false);
    await closePane();
    await row('shop/intruder', 'shop/backend', 'FORWARDED').first().waitFor({ timeout: 10_000 });
  }, 90_000);

  it('filters narrow the table and survive a reload through the URL', async () => {
    await page
      .locator('[data-testid=filter-verdict] select, select[data-testid=filter-verdict]')
      .first()
      .selectOption('DROPPED');
    await page.waitForURL(/verdict=DROPPED/, { timeout: 5_000 });
    await row('shop/intruder', 'shop/frontend', 'DROPPED').first().waitFor({ timeout: 10_000 });
    const verdicts = async () =>
      page.locator('[data-testid=flow-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-verdict')));
    expect(new Set(await verdicts())).toEqual(new Set(['DROPPED']));
    const port = page.locator('[data-testid=filter-port] input, input[data-testid=filter-port]').first();
    await port.fill('8080');
    await port.press('Enter');
    await page.waitForURL(/port=8080/, { timeout: 5_000 });

    await page.reload();
    expect(page.url()).toMatch(/namespace=shop&namespace=data&verdict=DROPPED&port=8080/);
    await row('shop/intruder', 'shop/frontend', 'DROPPED').first().waitFor({ timeout: 10_000 });
    expect(new Set(await verdicts())).toEqual(new Set(['DROPPED']));
    const ports = await page
      .locator('[data-testid=flow-row]')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-port')));
    expect(new Set(ports)).toEqual(new Set(['8080/TCP']));
    expect(
      await page
        .locator('select[data-testid=filter-verdict], [data-testid=filter-verdict] select')
        .first()
        .inputValue(),
    ).toBe('DROPPED');
  }, 30_000);

  it('recovers from a relay restart without a reload', async () => {
    await page.goto(`${state.hubbleUiUrl}?namespace=shop`);
    await page.locator('[data-testid=relay-status][data-state=connected]').waitFor({ timeout: 10_000 });
    // relay is the pod of its Deployment: kill its container's process, the kubelet restarts it
    const relayPod = async () =>
      (
        await client.list<{
          metadata: { name: string };
          status?: { containerStatuses?: { containerID?: string; restartCount: number; ready: boolean }[] };
        }>(
          { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
          { namespace: 'kube-system', labelSelector: 'k8s-app=hubble-relay' },
        )
      ).items[0]?.status?.containerStatuses?.[0];
    const killed = (await relayPod())!;
    const pid = Number(/^devcluster:\/\/(\d+)$/.exec(killed.containerID ?? '')?.[1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    await page.locator('[data-testid=relay-status][data-state=unreachable]').waitFor({ timeout: 15_000 });
    await page.locator('[data-testid=relay-alert]').waitFor({ timeout: 5_000 });
    await testing.waitFor(async () => (await relayPod())?.restartCount === killed.restartCount + 1, {
      what: 'the relay container to be restarted',
      timeoutMs: 20_000,
    });
    await page.locator('[data-testid=relay-status][data-state=connected]').waitFor({ timeout: 20_000 });
    // new flows arrive in the same page: count rows before and wait for newer ones
    const before = Number(
      (await page.locator('[data-testid=flow-count]').textContent())!.match(/^(\d+) flows received/)![1],
    );
    await testing.waitFor(
      async () =>
        Number((await page.locator('[data-testid=flow-count]').textContent())!.match(/^(\d+) flows received/)![1]) >
        before,
      { what: 'flows after the relay restart', timeoutMs: 20_000 },
    );
    expect(await page.locator('[data-testid=relay-alert]').count()).toBe(0);
  }, 90_000);
});
