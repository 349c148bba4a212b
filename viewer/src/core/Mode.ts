/**
 * A mode of the viewer (explore, project preview, underground, VR, and later live state,
 * analyses, tours...). The shell owns one registry; a route such as `/project/:slug`
 * selects the mode and gives it its parameters. Modes know nothing of each other.
 *
 * Contract: the constructor does no I/O; `enter` may fetch and add scene content and must
 * leave the scene as it found it in `exit`; `dispose` frees what the constructor made.
 */
export interface Mode<Ctx> {
  /** short, unique name (`explore`) */
  readonly name: string;
  /** what the navigation shows */
  readonly title: string;
  /** hash route pattern, `:param` segments captured (`/project/:slug`) */
  readonly route: string;
  /** shown in the navigation (false for modes reached only by link) */
  readonly inNav?: boolean;
  enter(ctx: Ctx, params: Record<string, string>): Promise<void> | void;
  exit(ctx: Ctx): void;
  dispose(): void;
}

export interface RouteMatch<Ctx> {
  mode: Mode<Ctx>;
  params: Record<string, string>;
}
