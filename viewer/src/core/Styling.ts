/**
 * Feature styling as pure functions: a style maps a feature's properties to a colour and
 * describes its legend. No three.js here; the binding turns colours into vertex colours.
 */

export type RGB = [number, number, number]; // 0..1

export interface LegendEntry {
  label: string;
  color: RGB;
}

export interface FeatureStyle {
  readonly id: string;
  readonly title: string;
  readonly attribute: string | null;
  /** colour of the selected feature (default: amber) */
  readonly highlight?: RGB;
  color(props: Record<string, unknown>): RGB;
  legend(): LegendEntry[];
}

export function hex(c: string): RGB {
  const n = parseInt(c.replace('#', ''), 16);
  return [((n >> 16) & 255) / 255, ((n >> 8) & 255) / 255, (n & 255) / 255];
}

export function toCss(c: RGB): string {
  const b = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 255);
  return `rgb(${b(c[0])}, ${b(c[1])}, ${b(c[2])})`;
}

const NO_DATA: RGB = hex('#b8b8b8');

/** A property value, with the metadata no-data sentinels read as missing. */
export function present(v: unknown): boolean {
  if (v === null || v === undefined || v === '') return false;
  if (typeof v === 'number' && (Number.isNaN(v) || v === -1)) return false;
  if (typeof v === 'bigint' && v === -1n) return false;
  return true;
}

export class UniformStyle implements FeatureStyle {
  readonly attribute = null;
  constructor(
    readonly id: string,
    readonly title: string,
    private readonly rgb: RGB,
  ) {}
  color(): RGB {
    return this.rgb;
  }
  legend(): LegendEntry[] {
    return [{ label: this.title, color: this.rgb }];
  }
}

/** Numeric attribute -> colour along a ramp, in classes (so the legend stays readable). */
export class RampStyle implements FeatureStyle {
  constructor(
    readonly id: string,
    readonly title: string,
    readonly attribute: string,
    private readonly breaks: number[],
    private readonly colors: RGB[],
    private readonly unit = '',
  ) {
    if (colors.length !== breaks.length + 1) throw new Error('a ramp needs one more colour than breaks');
  }

  classOf(v: number): number {
    let i = 0;
    while (i < this.breaks.length && v >= this.breaks[i]) i++;
    return i;
  }

  color(props: Record<string, unknown>): RGB {
    const v = props[this.attribute];
    if (!present(v)) return NO_DATA;
    return this.colors[this.classOf(Number(v))];
  }

  legend(): LegendEntry[] {
    const u = this.unit ? ` ${this.unit}` : '';
    const out: LegendEntry[] = this.colors.map((color, i) => {
      const lo = this.breaks[i - 1];
      const hi = this.breaks[i];
      const label =
        i === 0 ? `< ${hi}${u}` : i === this.breaks.length ? `≥ ${lo}${u}` : `${lo} – ${hi}${u}`;
      return { label, color };
    });
    out.push({ label: 'no data', color: NO_DATA });
    return out;
  }
}

/** String attribute -> colour from a fixed table, anything else grey. */
export class CategoryStyle implements FeatureStyle {
  constructor(
    readonly id: string,
    readonly title: string,
    readonly attribute: string,
    private readonly table: Record<string, RGB>,
    private readonly other: RGB = NO_DATA,
    readonly highlight?: RGB,
  ) {}

  color(props: Record<string, unknown>): RGB {
    const v = props[this.attribute];
    return (typeof v === 'string' && this.table[v]) || this.other;
  }

  legend(): LegendEntry[] {
    return [
      ...Object.entries(this.table).map(([label, color]) => ({ label: label.replace(/_/g, ' '), color })),
      { label: 'other / unknown', color: this.other },
    ];
  }
}

const RAMP = ['#2c7bb6', '#00a6ca', '#90eb9d', '#f9d057', '#f29e2e', '#d7191c'].map(hex);

export const BUILDING_STYLES: FeatureStyle[] = [
  new UniformStyle('plain', 'Plain', hex('#e9e4da')),
  new RampStyle('height', 'Height', 'height', [6, 12, 18, 25, 35], RAMP, 'm'),
  new CategoryStyle('usage', 'Usage', 'usage', {
    residential: hex('#f4a261'),
    commercial: hex('#2a9d8f'),
    office: hex('#457b9d'),
    retail: hex('#e76f51'),
    industrial: hex('#8d6e63'),
    public: hex('#9b5de5'),
    education: hex('#f15bb5'),
    religious: hex('#ffd166'),
    mixed: hex('#06d6a0'),
  }),
  new RampStyle('year', 'Year built', 'year_built', [1900, 1930, 1960, 1990, 2010], RAMP),
];

/** The street-works marking colours, as the tiles draw them (tiles/style.py). */
export const NETWORK_COLORS: Record<string, RGB> = {
  water: hex('#0d59f2'),
  wastewater: hex('#805224'),
  stormwater: hex('#1a9999'),
  gas: hex('#ffd900'),
  district_heating: hex('#9438bf'),
  electricity: hex('#e61a1a'),
  telecom: hex('#1aa633'),
  lighting: hex('#ff8c00'),
};

/** networks: the selected pipe turns white, a colour no network uses */
export const NETWORK_STYLE = new CategoryStyle('network', 'Network', 'network', NETWORK_COLORS, NO_DATA, hex('#ffffff'));

/** networks by renewal score (twin analyse ageing): 0 = no hurry, 100 = renew first */
export const RENEWAL_STYLE = new RampStyle(
  'renewal',
  'Renewal score',
  'renewal_score',
  [20, 40, 60, 80],
  ['#1a9641', '#a6d96a', '#ffffbf', '#fdae61', '#d7191c'].map(hex),
);
