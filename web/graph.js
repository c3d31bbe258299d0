// The service map: a cytoscape graph of /api/v1/graph's nodes and edges, updated in place, its
// layout stable: a node keeps its place while others come and go (see ServiceMap.update).

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
    size: Math.min(48, 24 + 7 * Math.log10(1 + flows)),
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
  fit: false,
  padding: 40,
  nodeDimensionsIncludeLabels: true,
  idealEdgeLength: () => 80,
  nodeRepulsion: () => 8000,
  numIter: 1500,
};

const MAX_FIT_ZOOM = 1.3;
const FIT_PADDING = 40;
const MIN_GAP = 75; // model units between a placed node and any other
const POS_KEY = 'flowscope.positions';
const POS_MAX = 2000; // remembered node positions

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

// Node positions by id, kept while nodes come and go (and across reloads): a node that comes
// back goes where it was.
class PositionCache {
  constructor() {
    this.map = new Map();
    try {
      const saved = JSON.parse(localStorage.getItem(POS_KEY) || '[]');
      for (const [id, x, y] of saved) if (Number.isFinite(x) && Number.isFinite(y)) this.map.set(id, { x, y });
    } catch {
      this.map.clear();
    }
    this.dirty = false;
  }

  get(id) {
    return this.map.get(id);
  }

  set(id, p) {
    this.map.delete(id);
    this.map.set(id, { x: p.x, y: p.y });
    while (this.map.size > POS_MAX) this.map.delete(this.map.keys().next().value);
    this.dirty = true;
  }

  clear() {
    this.map.clear();
    this.dirty = true;
  }

  save() {
    if (!this.dirty) return;
    this.dirty = false;
    try {
      localStorage.setItem(POS_KEY, JSON.stringify([...this.map].map(([id, p]) => [id, Math.round(p.x), Math.round(p.y)])));
    } catch {
      // full or private: positions are kept for this page only
    }
  }
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
    this.positions = new PositionCache();
    this.layoutRuns = 0; // full layouts (the first one, or asked for)
    this.placed = 0; // nodes placed next to the others
    this.userView = false; // the user panned or zoomed: the view is theirs
    this.programmatic = 0;
    const cy = this.cy;
    cy.on('tap', 'node, edge', (evt) => onSelect && onSelect(evt.target));
    cy.on('mouseover', 'edge', (evt) => {
      evt.target.addClass('hover');
      if (onHover) onHover(evt.target);
    });
    cy.on('mouseout', 'edge', (evt) => {
      evt.target.removeClass('hover');
      if (onHover) onHover(null);
    });
    cy.on('mouseover', 'node', (evt) => onHover && onHover(evt.target));
    cy.on('mouseout', 'node', () => onHover && onHover(null));
    cy.on('dragfree', 'node', (evt) => {
      this.positions.set(evt.target.id(), evt.target.position());
      this.positions.save();
    });
    cy.on('viewport', () => {
      if (!this.programmatic) this.userView = true;
    });
  }

  view(fn) {
    this.programmatic += 1;
    try {
      fn();
    } finally {
      this.programmatic -= 1;
    }
  }

  // Fits every node in the pane (not closer than MAX_FIT_ZOOM); the view is automatic again.
  fit() {
    const cy = this.cy;
    this.userView = false;
    if (cy.nodes().empty()) return;
    this.view(() => {
      cy.fit(cy.nodes(), FIT_PADDING);
      if (cy.zoom() > MAX_FIT_ZOOM) {
        cy.zoom(MAX_FIT_ZOOM);
        cy.center(cy.nodes());
      }
    });
  }

  // While the view is automatic, zooms out when a node is outside it.
  keepInView() {
    const cy = this.cy;
    if (this.userView || cy.nodes().empty()) return;
    const ext = cy.extent();
    const bb = cy.nodes().boundingBox();
    if (bb.x1 < ext.x1 || bb.y1 < ext.y1 || bb.x2 > ext.x2 || bb.y2 > ext.y2) this.fit();
  }

  // Lays every node out afresh (cose), forgetting the positions it had.
  relayout() {
    this.positions.clear();
    this.runLayout(this.cy.nodes());
    this.fit();
  }

  runLayout(nodes) {
    const cy = this.cy;
    const share = Math.max(0.4, Math.min(1, Math.sqrt(nodes.length / 12)));
    const boundingBox = { x1: 0, y1: 0, w: Math.max(300, cy.width() * share), h: Math.max(200, cy.height() * share) };
    nodes.union(nodes.connectedEdges()).layout({ ...LAYOUT, boundingBox, randomize: true }).run();
    nodes.forEach((n) => this.positions.set(n.id(), n.position()));
    this.layoutRuns += 1;
  }

  // A free spot near anchor on growing rings, trying directions nearest to angle first.
  freeSpot(anchor, angle, placed) {
    for (let ring = 1; ring < 40; ring += 1) {
      const r = MIN_GAP * (0.8 + 0.6 * ring);
      const steps = 6 * ring;
      for (let i = 0; i < steps; i += 1) {
        const k = i % 2 ? (i + 1) / 2 : -i / 2; // 0, +1, -1, +2, ...
        const a = angle + (k * 2 * Math.PI) / steps;
        const p = { x: anchor.x + r * Math.cos(a), y: anchor.y + r * Math.sin(a) };
        if (placed.every((q) => (q.x - p.x) ** 2 + (q.y - p.y) ** 2 >= MIN_GAP * MIN_GAP)) return p;
      }
    }
    return { x: anchor.x + MIN_GAP * 40, y: anchor.y };
  }

  // Where a new node goes first: beside its one placed neighbour, in the widest gap between
  // that neighbour's edges (so it does not sit on them); else around the centroid of its
  // neighbours, away from the middle of the map.
  aim(node, nbrs, centre, placedIds) {
    const away = (p) => (p.x === centre.x && p.y === centre.y ? 0 : Math.atan2(p.y - centre.y, p.x - centre.x));
    if (nbrs.length === 1) {
      const hub = nbrs[0];
      const hp = hub.position();
      const angles = hub
        .neighborhood('node')
        .filter((m) => m.id() !== node.id() && placedIds.has(m.id()))
        .map((m) => Math.atan2(m.position('y') - hp.y, m.position('x') - hp.x))
        .sort((a, b) => a - b);
      if (!angles.length) return { anchor: { ...hp }, angle: away(hp) };
      let best = 0;
      let gap = -1;
      for (let i = 0; i < angles.length; i += 1) {
        const next = i + 1 < angles.length ? angles[i + 1] : angles[0] + 2 * Math.PI;
        if (next - angles[i] > gap) {
          gap = next - angles[i];
          best = angles[i] + gap / 2;
        }
      }
      return { anchor: { ...hp }, angle: best };
    }
    if (!nbrs.length) return { anchor: centre, angle: 0 };
    const ps = nbrs.map((m) => m.position());
    const anchor = { x: ps.reduce((a, p) => a + p.x, 0) / ps.length, y: ps.reduce((a, p) => a + p.y, 0) / ps.length };
    return { anchor, angle: away(anchor) };
  }

  // Puts the new nodes next to what they connect to; nodes already on the map do not move.
  place(fresh) {
    const cy = this.cy;
    const isFresh = new Set(fresh.map((n) => n.id()));
    const placedIds = new Set(cy.nodes().filter((n) => !isFresh.has(n.id())).map((n) => n.id()));
    const placed = cy.nodes().filter((n) => !isFresh.has(n.id())).map((n) => ({ ...n.position() }));
    const centre = placed.reduce((c, p) => ({ x: c.x + p.x / placed.length, y: c.y + p.y / placed.length }), { x: 0, y: 0 });
    const todo = new Set(fresh);
    while (todo.size) {
      // The node with the most placed neighbours next, so chains grow from the map outwards.
      let best = null;
      let bestN = -1;
      for (const n of todo) {
        const k = n.neighborhood('node').filter((m) => placedIds.has(m.id())).length;
        if (k > bestN) {
          best = n;
          bestN = k;
        }
      }
      const nbrs = best.neighborhood('node').filter((m) => placedIds.has(m.id()));
      const { anchor, angle } = this.aim(best, nbrs, centre, placedIds);
      const p = this.freeSpot(anchor, angle, placed);
      best.position(p);
      placed.push(p);
      placedIds.add(best.id());
      todo.delete(best);
      this.positions.set(best.id(), p);
      this.placed += 1;
    }
  }

  // Applies a /api/v1/graph answer: adds, updates and removes elements in place. A node that
  // was on the map before goes back where it was; only nodes never seen get a place, next to
  // their neighbours (the very first nodes: by a layout of all of them). Returns whether the
  // set of nodes changed.
  update(graph) {
    const cy = this.cy;
    const nodes = (graph.nodes || []).map(nodeData);
    const nodeIds = new Set(nodes.map((n) => n.id));
    const edges = (graph.edges || []).map(edgeData).filter((e) => nodeIds.has(e.source) && nodeIds.has(e.target));
    const edgeIds = new Set(edges.map((e) => e.id));
    const added = [];
    let removed = false;

    cy.batch(() => {
      cy.edges().forEach((e) => {
        if (!edgeIds.has(e.id())) e.remove();
      });
      cy.nodes().forEach((n) => {
        if (!nodeIds.has(n.id())) {
          this.positions.set(n.id(), n.position());
          n.remove();
          removed = true;
        }
      });
      for (const n of nodes) {
        const ele = cy.getElementById(n.id);
        if (ele.nonempty()) {
          if (!sameData(ele, n)) ele.data(n);
        } else {
          const p = this.positions.get(n.id);
          const e = cy.add({ group: 'nodes', data: n, position: p ? { ...p } : { x: 0, y: 0 } });
          if (!p) added.push(e);
        }
      }
      for (const e of edges) {
        const ele = cy.getElementById(e.id);
        if (ele.nonempty() && (ele.data('source') !== e.source || ele.data('target') !== e.target)) ele.remove();
        const cur = cy.getElementById(e.id);
        if (cur.nonempty()) {
          if (!sameData(cur, e)) cur.data(e);
        } else {
          cy.add({ group: 'edges', data: e });
        }
      }
    });

    const changed = removed || added.length > 0 || nodes.length !== cy.nodes().length;
    if (added.length) {
      if (added.length === cy.nodes().length) {
        this.runLayout(cy.nodes());
        this.fit();
      } else {
        this.place(added);
      }
    }
    this.positions.save();
    this.keepInView();
    return changed || added.length > 0;
  }

  // Model positions of every node, for tests: { id: [x, y] }.
  snapshot() {
    const out = {};
    this.cy.nodes().forEach((n) => {
      const p = n.position();
      out[n.id()] = [p.x, p.y];
    });
    return out;
  }
}

export const NODE_KINDS = KIND_STYLE;
