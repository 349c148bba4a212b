import { BoxGeometry, DoubleSide, Group, Mesh, MeshBasicMaterial, MeshLambertMaterial, MeshStandardMaterial } from 'three';
import { describe, expect, it } from 'vitest';
import { LambertMaterialPlugin } from '../../src/three/plugins/LambertMaterialPlugin';

describe('LambertMaterialPlugin', () => {
  it('swaps standard materials for Lambert ones with what the tile set on them', () => {
    const std = new MeshStandardMaterial({ color: 0xe9e4da, opacity: 0.4, transparent: true, side: DoubleSide, flatShading: true, vertexColors: true });
    std.userData.twinStyled = true;
    const a = new Mesh(new BoxGeometry(), std);
    const b = new Mesh(new BoxGeometry(), std);
    const scene = new Group().add(a, b);
    new LambertMaterialPlugin().processTileModel(scene);
    const l = a.material as MeshLambertMaterial;
    expect(l).toBeInstanceOf(MeshLambertMaterial);
    expect(b.material).toBe(l); // one Lambert per source material, shared as the source was
    expect(l.color.getHex()).toBe(0xe9e4da);
    expect([l.opacity, l.transparent, l.side, l.flatShading, l.vertexColors]).toEqual([0.4, true, DoubleSide, true, true]);
    expect(l.userData.twinStyled).toBe(true);
    expect(l.color).not.toBe(std.color); // a copy: restyling one tile does not touch another source
  });

  it('keeps materials that are not physically based, and multi-material meshes work', () => {
    const basic = new MeshBasicMaterial();
    const multi = new Mesh(new BoxGeometry(), [basic, new MeshStandardMaterial()]);
    new LambertMaterialPlugin().processTileModel(new Group().add(multi));
    const [m0, m1] = multi.material as [MeshBasicMaterial, MeshLambertMaterial];
    expect(m0).toBe(basic);
    expect(m1).toBeInstanceOf(MeshLambertMaterial);
  });
});
