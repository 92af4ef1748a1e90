// The flow table: newest first, the columns of `hubble observe` (time, source, destination, port,
// verdict, drop reason, node). Only the newest rows are rendered (the store holds more); a row
// opens the detail pane.
import { Table } from '@mantine/core';
import type { ReactElement } from 'react';
import type { Flow } from '../../hubble/types.js';
import { destinationText, dropReasonText, flowKey, portText, sourceText, timeText } from './flow-format.js';

const VERDICT_COLOURS: Record<string, string> = {
  FORWARDED: 'green',
  DROPPED: 'red',
  AUDIT: 'yellow',
  ERROR: 'orange',
};

interface Props {
  flows: readonly Flow[];
  selected?: Flow;
  onSelect: (f: Flow) => void;
}

export function FlowTable({ flows, selected, onSelect }: Props): ReactElement {
  return (
    <Table striped highlightOnHover stickyHeader fz="xs" data-testid="flow-table" style={{ tableLayout: 'fixed' }}>
      <Table.Thead>
        <Table.Tr>
          <Table.Th style={{ width: 100 }}>Time</Table.Th>
          <Table.Th>Source</Table.Th>
          <Table.Th>Destination</Table.Th>
          <Table.Th style={{ width: 90 }}>Port</Table.Th>
          <Table.Th style={{ width: 105 }}>Verdict</Table.Th>
          <Table.Th style={{ width: 190 }}>Drop reason</Table.Th>
          <Table.Th style={{ width: 110 }}>Node</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {flows.map((f) => (
          <Table.Tr
            key={flowKey(f)}
            data-testid="flow-row"
            data-verdict={f.verdict}
            data-source={sourceText(f)}
            data-destination={destinationText(f)}
            data-port={portText(f)}
            data-drop-reason={dropReasonText(f)}
            onClick={() => onSelect(f)}
            bg={selected === f ? 'var(--mantine-color-blue-light)' : undefined}
            style={{ cursor: 'pointer' }}
          >
            <Table.Td>{timeText(f)}</Table.Td>
            <Table.Td>{sourceText(f)}</Table.Td>
            <Table.Td>{destinationText(f)}</Table.Td>
            <Table.Td>{portText(f)}</Table.Td>
            <Table.Td>
              {/* a plain span, not a Badge: hundreds of rows are redrawn several times a second */}
              <span style={{ color: VERDICT_COLOURS[f.verdict ?? ''] ?? '#495057', fontWeight: 600 }}>{f.verdict}</span>
            </Table.Td>
            <Table.Td>{dropReasonText(f)}</Table.Td>
            <Table.Td>{f.node_name}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
