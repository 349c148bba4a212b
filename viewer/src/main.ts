import './style.css';
import { App } from './app/App';
import { ExploreMode } from './modes/ExploreMode';
import { LiveMode } from './modes/LiveMode';
import { OpsMode } from './modes/OpsMode';
import { PlannerMode } from './modes/PlannerMode';
import { ProjectMode } from './modes/ProjectMode';
import { TourMode } from './modes/TourMode';
import { UndergroundMode } from './modes/UndergroundMode';
import { VrMode } from './modes/VrMode';

const app = new App(document.getElementById('root')!, [
  new ExploreMode(),
  new ProjectMode(),
  new PlannerMode(),
  new UndergroundMode(),
  new LiveMode(),
  new OpsMode(),
  new TourMode(),
  new VrMode(),
]);

// for the browser tests and the bench: read-only handles on the running app
(window as unknown as { __twin: unknown }).__twin = {
  app,
  ctx: app.ctx,
  viewer: app.ctx.viewer,
  xr: app.ctx.xr,
};

void app.start();
