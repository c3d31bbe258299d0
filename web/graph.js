// The service map: a cytoscape graph of /api/v1/graph's nodes and edges, updated in place.
// Layout is cytoscape's own ("cose"), re-run only when nodes come or go.

const KIND_STYLE = {
  service: { color: '#3b6fd8', shape: 'round-rectangle' },
  pod: { color: '#1c9a6c', shape: 'ellipse' },
  container: { color: '#7c4dcc', shape: 'hexagon' },
  process: { color: '#d08a00', shape: 'diamond' },
  dns: { color: '#0a8fa8', shape: 'tag' },
  ip: { color: '#7d8792', shape: 'ellipse' },
  other: { color: '#5a636d', shape: 'octagon' },
};

export const EDGE_COLORS = { normal: '#9aa3ad', some: '#f08c00', most: '#e03131' };

const num = (v) => {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
};

// Edge width: log scale of the bytes both ways (1 px for nothing, 12 px at ~1 GB).
export function edgeWidth(e) {
  const bytes = num(e.bytes_sent) + num(e.bytes_received);
  return Math.min(12, 1 + 1.25 * Math.log10(1 + bytes));
}

// Edge colour: grey without drops, orange with some, red when drops are at least half of the
// packets (dropped packets count on top of those seen, whichever way the probe saw them).
export function edgeColor(e) {
  const drops = num(e.drops_total);
  if (drops <= 0) return EDGE_COLORS.normal;
  const packets = num(e.packets_sent) + num(e.packets_received);
  const seen = Math.max(packets, drops);
  return drops * 2 >= seen ? EDGE_COLORS.most : EDGE_COLORS.some;
}

function nodeData(n) {
  const kind = KIND_STYLE[n.kind] ? n.kind : 'other';
  const flows = num(n.flows);
  return {
    ...n,
    id: String(n.id),
    label: n.label || String(n.id),
    kind,
    color: KIND_STYLE[kind].color,
    shape: KIND_STYLE[kind].shape,
    size: Math.min(56, 26 + 8 * Math.log10(1 + flows)),
  };
}

function edgeData(e) {
  return {
    ...e,
    id: String(e.id),
    source: String(e.source),
    target: String(e.target),
    width: edgeWidth(e),
    color: edgeColor(e),
    flowsLabel: `${num(e.flows)} flows${num(e.drops_total) ? `, ${num(e.drops_total)} drops` : ''}`,
  };
}

const STYLE = [
  {
    selector: 'node',
    style: {
      'background-color': 'data(color)',
      shape: 'data(shape)',
      width: 'data(size)',
      height: 'data(size)',
      label: 'data(label)',
      color: '#1d2329',
      'font-size': 12,
      'text-valign': 'bottom',
      'text-margin-y': 4,
      'text-outline-color': '#ffffff',
      'text-outline-width': 2,
      'border-width': 2,
      'border-color': '#ffffff',
    },
  },
  { selector: 'node[active > 0]', style: { 'border-color': '#39c07a', 'border-width': 3 } },
  { selector: 'node[kind = "other"]', style: { 'border-style': 'dashed', 'border-color': '#5a636d' } },
  {
    selector: 'edge',
    style: {
      width: 'data(width)',
      'line-color': 'data(color)',
      'target-arrow-color': 'data(color)',
      'target-arrow-shape': 'triangle',
      'arrow-scale': 0.9,
      'curve-style': 'bezier',
      opacity: 0.9,
    },
  },
  {
    selector: 'edge:selected, edge.hover',
    style: {
      label: 'data(flowsLabel)',
      'font-size': 10,
      color: '#1d2329',
      'text-background-color': '#ffffff',
      'text-background-opacity': 0.85,
      'text-background-padding': 2,
      'text-rotation': 'autorotate',
      'overlay-color': '#3b6fd8',
      'overlay-opacity': 0.12,
    },
  },
  {
    selector: 'node:selected',
    style: { 'overlay-color': '#3b6fd8', 'overlay-opacity': 0.18, 'border-color': '#1d2329' },
  },
];

const LAYOUT = {
  name: 'cose',
  animate: false,
  fit: true,
  padding: 40,
  nodeDimensionsIncludeLabels: true,
  idealEdgeLength: () => 70,
  nodeRepulsion: () => 6000,
  numIter: 1500,
};

const MAX_FIT_ZOOM = 1.5;

// Compares only what is shown or reported, to skip no-op updates.
function sameData(ele, data) {
  const cur = ele.data();
  for (const k of Object.keys(data)) {
    const a = cur[k];
    const b = data[k];
    if (a === b) continue;
    if (typeof a === 'object' && typeof b === 'object' && JSON.stringify(a) === JSON.stringify(b)) continue;
    return false;
  }
  return true;
}

export class ServiceMap {
  constructor(container, { onSelect, onHover } = {}) {
    this.cy = window.cytoscape({
      container,
      style: STYLE,
      elements: [],
      minZoom: 0.2,
      maxZoom: 4,
      boxSelectionEnabled: false,
    });
    this.layoutRuns = 0;
    this.firstLayout = true;
    this.cy.on('tap', 'node, edge', (evt) => onSelect && onSelect(evt.target));
    this.cy.on('mouseover', 'edge', (evt) => {
      evt.target.addClass('hover');
      if (onHover) onHover(evt.target);
    });
    this.cy.on('mouseout', 'edge', (evt) => {
      evt.target.removeClass('hover');
      if (onHover) onHover(null);
    });
    this.cy.on('mouseover', 'node', (evt) => onHover && onHover(evt.target));
    this.cy.on('mouseout', 'node', () => onHover && onHover(null));
  }

  // Applies a /api/v1/graph answer: adds, updates and removes elements; lays out again only
  // when the set of nodes changed.
  update(graph) {
    const cy = this.cy;
    const nodes = (graph.nodes || []).map(nodeData);
    const nodeIds = new Set(nodes.map((n) => n.id));
    const edges = (graph.edges || [])
      .map(edgeData)
      .filter((e) => nodeIds.has(e.source) && nodeIds.has(e.target));
    const edgeIds = new Set(edges.map((e) => e.id));
    let nodesChanged = false;

    cy.batch(() => {
      cy.edges().forEach((e) => {
        if (!edgeIds.has(e.id())) e.remove();
      });
      cy.nodes().forEach((n) => {
        if (!nodeIds.has(n.id())) {
          n.remove();
          nodesChanged = true;
        }
      });
      for (const n of nodes) {
        const ele = cy.getElementById(n.id);
        if (ele.nonempty()) {
          if (!sameData(ele, n)) ele.data(n);
        } else {
          cy.add({ group: 'nodes', data: n });
          nodesChanged = true;
        }
      }
      for (const e of edges) {
        const ele = cy.getElementById(e.id);
        if (ele.nonempty() && (ele.data('source') !== e.source || ele.data('target') !== e.target)) {
          ele.remove();
        }
        const cur = cy.getElementById(e.id);
        if (cur.nonempty()) {
          if (!sameData(cur, e)) cur.data(e);
        } else {
          cy.add({ group: 'edges', data: e });
        }
      }
    });

    if (nodesChanged && cy.nodes().length > 0) {
      // Laid out over the pane's own shape (so a wide pane gets a wide map), on less of it
      // when there are few nodes.
      const share = Math.max(0.4, Math.min(1, Math.sqrt(cy.nodes().length / 12)));
      const boundingBox = {
        x1: 0,
        y1: 0,
        w: Math.max(300, cy.width() * share),
        h: Math.max(200, cy.height() * share),
      };
      const layout = cy.layout({ ...LAYOUT, boundingBox, randomize: this.firstLayout });
      // A small graph fitted to the pane would be drawn huge: keep it at a readable zoom.
      layout.one('layoutstop', () => {
        if (cy.zoom() > MAX_FIT_ZOOM) {
          cy.zoom(MAX_FIT_ZOOM);
          cy.center();
        }
      });
      layout.run();
      this.firstLayout = false;
      this.layoutRuns += 1;
    }
    return nodesChanged;
  }
}

export const NODE_KINDS = KIND_STYLE;
