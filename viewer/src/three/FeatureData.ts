/**
 * Reading EXT_mesh_features / EXT_structural_metadata from meshes loaded by
 * 3d-tiles-renderer's GLTFExtensionsPlugin (mesh.userData.meshFeatures / structuralMetadata).
 */
import { BufferAttribute, type BufferGeometry, type Intersection, type Mesh, type Object3D, Triangle, Vector3 } from 'three';

export type Props = Record<string, unknown>;

interface MeshFeaturesLike {
  getFeatureInfo(): Array<{ propertyTable: number | null; attribute?: number }>;
  getFeatures(triangle: number, barycoord: Vector3): Array<number | null>;
}
interface StructuralMetadataLike {
  getPropertyTableData(tables: number[], ids: number[]): Array<Props | null>;
  getPropertyTableInfo(tables: number[] | null): Array<{ name: string; className: string }>;
}

export function meshFeatures(o: Object3D): MeshFeaturesLike | null {
  return (o.userData?.meshFeatures as MeshFeaturesLike) ?? null;
}

export function structuralMetadata(o: Object3D): StructuralMetadataLike | null {
  // the metadata sits on the glTF scene root; GLTFExtensionsPlugin copies it to meshes too
  let cur: Object3D | null = o;
  while (cur) {
    const sm = cur.userData?.structuralMetadata as StructuralMetadataLike | undefined;
    if (sm) return sm;
    cur = cur.parent;
  }
  return null;
}

/** Plain JS values: BigInt -> Number, typed arrays -> arrays. */
export function plain(props: Props): Props {
  const out: Props = {};
  for (const [k, v] of Object.entries(props)) {
    if (typeof v === 'bigint') out[k] = Number(v);
    else if (ArrayBuffer.isView(v)) out[k] = Array.from(v as unknown as ArrayLike<number>);
    else out[k] = v;
  }
  return out;
}

export interface PickedFeature {
  className: string;
  featureId: number;
  props: Props;
  point: Vector3;
  object: Object3D;
}

const _tri = new Triangle();
const _a = new Vector3();
const _b = new Vector3();
const _c = new Vector3();

/** The feature under a ray hit, with its property-table row, or null. */
export function featureAt(hit: Intersection): PickedFeature | null {
  const obj = hit.object as Mesh;
  if (hit.instanceId !== undefined) return instanceFeature(hit);
  const mf = meshFeatures(obj);
  const sm = structuralMetadata(obj);
  if (!mf || !sm) return null;
  let faceIndex = hit.faceIndex ?? null;
  let bary = (hit as Intersection & { barycoord?: Vector3 }).barycoord ?? null;
  const geom = obj.geometry as BufferGeometry;
  if (faceIndex === null) {
    // lines: use the segment index and its first vertex
    const idx = (hit as Intersection & { index?: number }).index;
    if (idx === undefined) return null;
    const attr = featureAttribute(geom);
    if (!attr) return null;
    const fid = attr.getX(idx);
    return rowFor(obj, mf, sm, fid, hit.point);
  }
  if (!bary && hit.face) {
    const pos = geom.getAttribute('position');
    _a.fromBufferAttribute(pos, hit.face.a);
    _b.fromBufferAttribute(pos, hit.face.b);
    _c.fromBufferAttribute(pos, hit.face.c);
    const local = obj.worldToLocal(hit.point.clone());
    _tri.set(_a, _b, _c);
    bary = _tri.getBarycoord(local, new Vector3());
  }
  if (!bary) return null;
  const ids = mf.getFeatures(faceIndex, bary);
  const fid = ids[0];
  if (fid === null || fid === undefined) return null;
  return rowFor(obj, mf, sm, fid, hit.point);
}

function rowFor(obj: Object3D, mf: MeshFeaturesLike, sm: StructuralMetadataLike, fid: number, point: Vector3): PickedFeature | null {
  const info = mf.getFeatureInfo();
  const table = info[0]?.propertyTable;
  if (table === null || table === undefined) return null;
  const [row] = sm.getPropertyTableData([table], [fid]);
  const [tinfo] = sm.getPropertyTableInfo([table]);
  if (!row) return null;
  return { className: tinfo?.className ?? 'feature', featureId: fid, props: plain(row), point: point.clone(), object: obj };
}

export function featureAttribute(geom: BufferGeometry): BufferAttribute | null {
  const a = geom.getAttribute('_feature_id_0') ?? geom.getAttribute('_FEATURE_ID_0');
  return (a as BufferAttribute) ?? null;
}

/**
 * Every row of the mesh's property table, indexed by feature id. Read again on each restyle
 * rather than kept on the mesh: a city's worth of loaded tiles would hold a JS object per
 * feature, and the heap must stay flat however long one flies.
 */
export function allRows(obj: Object3D): Props[] | null {
  const mf = meshFeatures(obj);
  const sm = structuralMetadata(obj);
  const geom = (obj as Mesh).geometry as BufferGeometry | undefined;
  if (!mf || !sm || !geom) return null;
  const attr = featureAttribute(geom);
  const table = mf.getFeatureInfo()[0]?.propertyTable;
  if (!attr || table === null || table === undefined) return null;
  let max = 0;
  for (let i = 0; i < attr.count; i++) max = Math.max(max, attr.getX(i));
  const ids = Array.from({ length: max + 1 }, (_, i) => i);
  const rows = sm.getPropertyTableData(ids.map(() => table), ids).map((r) => (r ? plain(r) : {}));
  return rows;
}

/**
 * EXT_instance_features: three's GLTFLoader keeps the per-instance `_FEATURE_ID_0` as an
 * instanced attribute of the InstancedMesh (EXT_mesh_gpu_instancing) and the extension itself
 * in the node's userData; the row comes from the glTF's property table.
 */
function instanceFeature(hit: Intersection): PickedFeature | null {
  const obj = hit.object as Mesh;
  const geom = obj.geometry as BufferGeometry | undefined;
  const attr = geom && featureAttribute(geom);
  const sm = structuralMetadata(obj);
  if (!attr || !sm || hit.instanceId === undefined) return null;
  const fid = attr.getX(hit.instanceId);
  let table = 0;
  for (let cur: Object3D | null = obj; cur; cur = cur.parent) {
    const ext = (cur.userData?.gltfExtensions as Record<string, { featureIds?: Array<{ propertyTable?: number }> }> | undefined)?.EXT_instance_features;
    if (ext?.featureIds?.[0]?.propertyTable !== undefined) {
      table = ext.featureIds[0].propertyTable;
      break;
    }
  }
  const [row] = sm.getPropertyTableData([table], [fid]);
  const [info] = sm.getPropertyTableInfo([table]);
  if (!row) return null;
  return { className: info?.className ?? 'feature', featureId: fid, props: plain(row), point: hit.point.clone(), object: obj };
}
