// A flow's detail pane: every field, and — beyond upstream — why the policy decided it (asked of
// the server, which decides it again with the agents' engine), with the policy that would allow
// a default-deny drop, ready to copy.
import {
  Alert,
  Badge,
  Button,
  Code,
  CopyButton,
  Drawer,
  Group,
  Loader,
  Stack,
  Table,
  Text,
  Title,
} from '@mantine/core';
import { useEffect, useState, type ReactElement } from 'react';
import type { Flow } from '../../hubble/types.js';
import type { Explanation } from '../api-types.js';
import { destinationText, dropReasonText, portText, sourceText, timeText } from './flow-format.js';

interface Props {
  flow?: Flow;
  onClose: () => void;
}

type Loaded = { state: 'loading' } | { state: 'error'; message: string } | { state: 'done'; e: Explanation };

const ruleText = (r: { policy: string; path: string }): string => (r.path ? `${r.policy} ${r.path}` : r.policy);

function ExplanationView({ flow }: { flow: Flow }): ReactElement {
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  useEffect(() => {
    let live = true;
    setLoaded({ state: 'loading' });
    fetch('api/explain', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ flow }),
    })
      .then(async (r) => {
        const body = (await r.json()) as Explanation & { error?: string };
        if (!live) return;
        setLoaded(r.ok ? { state: 'done', e: body } : { state: 'error', message: body.error ?? r.statusText });
      })
      .catch((e: Error) => live && setLoaded({ state: 'error', message: e.message }));
    return () => {
      live = false;
    };
  }, [flow]);
  if (loaded.state === 'loading') return <Loader size="sm" />;
  if (loaded.state === 'error')
    return (
      <Alert color="orange" data-testid="explain-error">
        cannot explain: {loaded.message}
      </Alert>
    );
  const e = loaded.e;
  return (
    <Stack gap="xs" data-testid="explanation" data-how={e.how ?? ''}>
      <Text size="sm" fw={600} data-testid="explain-reason">
        {e.reason}
      </Text>
      {e.stale && (
        <Text size="xs" c="orange">
          today the policies decide this connection differently ({e.verdict}) than when the flow was recorded
        </Text>
      )}
      {e.decidedBy.length > 0 && (
        <Stack gap={2} data-testid="decided-by">
          {e.decidedBy.map((r) => (
            <Code key={ruleText(r)}>{ruleText(r)}</Code>
          ))}
        </Stack>
      )}
      {e.sides.map((s) => (
        <Text size="xs" key={s.direction} c="dimmed">
          {s.direction} of {s.subject}: {s.enforced ? `enforced (${s.verdict})` : 'not enforced'}
          {s.selectedBy.length ? `; selected by ${s.selectedBy.map((r) => r.policy).join(', ')}` : ''}
        </Text>
      ))}
      {e.suggestedPolicy && (
        <Stack gap={4}>
          <Group justify="space-between">
            <Text size="sm" fw={600}>
              Policy that allows exactly this connection
            </Text>
            <CopyButton value={e.suggestedPolicy}>
              {({ copied, copy }) => (
                <Button size="compact-xs" variant="light" onClick={copy}>
                  {copied ? 'copied' : 'copy YAML'}
                </Button>
              )}
            </CopyButton>
          </Group>
          <Code block data-testid="suggested-policy">
            {e.suggestedPolicy}
          </Code>
          <Text size="xs" c="dimmed">
            checked against today&apos;s policies in the agents&apos; engine; apply with kubectl apply -f -
          </Text>
        </Stack>
      )}
      {e.suggestionNote && (
        <Text size="xs" c="dimmed" data-testid="suggestion-note">
          {e.suggestionNote}
        </Text>
      )}
    </Stack>
  );
}

/** Every field of the flow, flattened to dotted paths. */
function fields(v: unknown, prefix = '', out: [string, string][] = []): [string, string][] {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) if (!k.startsWith('__')) fields(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.push([prefix, Array.isArray(v) ? v.join(', ') : String(v)]);
  return out;
}

export function DetailPane({ flow, onClose }: Props): ReactElement {
  return (
    <Drawer opened={!!flow} onClose={onClose} position="right" size="lg" title={<Title order={4}>Flow</Title>}>
      {flow && (
        <Stack gap="sm" data-testid="detail-pane">
          <Group gap="xs">
            <Badge color={flow.verdict === 'DROPPED' ? 'red' : 'green'}>{flow.verdict}</Badge>
            <Text size="sm">
              {sourceText(flow)} → {destinationText(flow)} {portText(flow)}
            </Text>
          </Group>
          <Text size="xs" c="dimmed">
            {timeText(flow)} on {flow.node_name} {dropReasonText(flow)}
          </Text>
          <Title order={5}>Policy verdict</Title>
          <ExplanationView flow={flow} />
          <Title order={5}>All fields</Title>
          <Table fz="xs" data-testid="flow-fields">
            <Table.Tbody>
              {fields(flow).map(([k, v]) => (
                <Table.Tr key={k}>
                  <Table.Td style={{ fontFamily: 'monospace', whiteSpace: 'nowrap' }}>{k}</Table.Td>
                  <Table.Td style={{ wordBreak: 'break-all' }}>{v}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Stack>
      )}
    </Drawer>
  );
}
