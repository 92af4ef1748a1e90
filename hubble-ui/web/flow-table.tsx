// The flow table: newest first, the columns of `hubble observe` (time, source, destination, port,
// verdict, drop reason, node). Only the newest rows are rendered (the store holds more); a row
// opens the detail pane. Plain table elements styled by flow-table.css, and a row is drawn once:
// under a flood every render replaces most rows, so what a row costs bounds what the page sustains
// (Mantine's Table components add their style machinery to every cell).
import { memo, type ReactElement } from 'react';
import type { Flow } from '../../hubble/types.js';
import { destinationText, dropReasonText, flowKey, portText, sourceText, timeText } from './flow-format.js';
import './flow-table.css';

const VERDICT_CLASSES: Record<string, string> = {
  FORWARDED: 'verdict-forwarded',
  DROPPED: 'verdict-dropped',
  AUDIT: 'verdict-audit',
  ERROR: 'verdict-error',
};

interface Props {
  flows: readonly Flow[];
  selected?: Flow;
  onSelect: (f: Flow) => void;
}

interface RowProps {
  flow: Flow;
  selected: boolean;
  onSelect: (f: Flow) => void;
}

const FlowRow = memo(function FlowRow({ flow: f, selected, onSelect }: RowProps): ReactElement {
  const source = sourceText(f);
  const destination = destinationText(f);
  const port = portText(f);
  const reason = dropReasonText(f);
  return (
    <tr
      data-testid="flow-row"
      data-verdict={f.verdict}
      data-source={source}
      data-destination={destination}
      data-port={port}
      data-drop-reason={reason}
      className={selected ? 'selected' : undefined}
      onClick={() => onSelect(f)}
    >
      <td>{timeText(f)}</td>
      <td>{source}</td>
      <td>{destination}</td>
      <td>{port}</td>
      <td className={VERDICT_CLASSES[f.verdict ?? '']}>{f.verdict}</td>
      <td>{reason}</td>
      <td>{f.node_name}</td>
    </tr>
  );
});

export function FlowTable({ flows, selected, onSelect }: Props): ReactElement {
  return (
    <table className="flow-table" data-testid="flow-table">
      <thead>
        <tr>
          <th style={{ width: 110 }}>Time</th>
          <th>Source</th>
          <th>Destination</th>
          <th style={{ width: 90 }}>Port</th>
          <th style={{ width: 110 }}>Verdict</th>
          <th style={{ width: 190 }}>Drop reason</th>
          <th style={{ width: 110 }}>Node</th>
        </tr>
      </thead>
      <tbody>
        {flows.map((f) => (
          <FlowRow key={flowKey(f)} flow={f} selected={selected === f} onSelect={onSelect} />
        ))}
      </tbody>
    </table>
  );
}
