/**
 * The host update API's wire format: routes, request bodies and the status document. Shared by the
 * server (`updog serve`) and its clients (`updog api`, the update-operator agent), so both ends
 * agree by construction. Modelled on Bottlerocket's update API (thar-be-updates).
 */

/** Where the host is in an update: Idle -> Available -> Staged -> Ready -> (reboot) -> Idle. */
export const UPDATE_STATES = ['Idle', 'Available', 'Staged', 'Ready'] as const;
export type UpdateState = (typeof UPDATE_STATES)[number];

/** Commands that change the host; each holds the update lock while it runs. */
export const UPDATE_COMMANDS = ['refresh', 'prepare', 'activate', 'deactivate', 'reboot', 'mark-successful-boot'] as const;
export type UpdateCommand = (typeof UPDATE_COMMANDS)[number];

export type PartitionSetName = 'A' | 'B';

export interface UpdateImage {
  variant: string;
  arch: string;
  version: string;
}

/** What one partition set holds, and whether the bootloader will pick it next. */
export interface PartitionImage {
  set: PartitionSetName;
  image: UpdateImage;
  nextToBoot: boolean;
}

export interface CommandResult {
  command: UpdateCommand;
  status: 'Success' | 'Failed';
  /** ISO 8601 UTC time the command finished. */
  timestamp: string;
  /** Error message when status is Failed. */
  error?: string;
  /** For reboot: the boot id it was requested in. */
  bootId?: string;
}

/** The persisted status document (one JSON file, rewritten atomically after every command). */
export interface UpdateStatus {
  updateState: UpdateState;
  /** Versions the repository offers for this variant and arch (newest first), from the last refresh. */
  availableUpdates: string[];
  /** The update this host's own policy (waves, version lock) picks; null when there is none. */
  chosenUpdate: UpdateImage | null;
  activePartition: PartitionImage | null;
  /** The inactive set's image once a prepare wrote it; null when nothing is staged. */
  stagingPartition: PartitionImage | null;
  mostRecentCommand: CommandResult | null;
  /**
   * The boot id in which a reboot was last requested successfully (null: none, or the host has no
   * boot id). Kept apart from `mostRecentCommand` so later commands (a periodic refresh) cannot
   * hide a reboot still to come; see StatusResponse.rebootPending.
   */
  rebootRequestedInBoot: string | null;
}

/** GET /updates/status: the persisted status plus live facts read from the disk. */
export interface StatusResponse extends UpdateStatus {
  /** The running image's set and version (from the disk and os-release), and the kernel's boot id. */
  running: { set: PartitionSetName; version: string; bootId: string };
  /**
   * A reboot was requested in this very boot (`rebootRequestedInBoot` is the running boot id) and
   * has not happened yet, whatever commands ran since: the running version is still the old one,
   * which must not be mistaken for a rollback nor taken as a lost reboot request. Always false on
   * a host without a boot id (reboots cannot be told apart there).
   */
  rebootPending: boolean;
  /** Whether the running boot has been marked successful (signpost `successful` flag). */
  activeBootSuccessful: boolean;
  /** The command holding the lock right now, if any; status fields then predate it. */
  commandInProgress: UpdateCommand | null;
  /** The bytes of the last prepare this server ran, live while it runs; null before the first (not persisted). */
  prepareProgress: PrepareProgress | null;
}

/** One image of a prepare, from the installer's progress (README "Progress and cancel"). */
export interface ImageProgress {
  image: string;
  /** Compressed bytes downloaded. */
  fetched: number;
  /** Decoded bytes taken from the host (a resumed or locally copied block) instead of downloaded; 0 for a stream install. */
  reused: number;
  /** The compressed image's length (its signed length). */
  total: number;
}

export interface PrepareProgress {
  version: string;
  state: 'running' | 'done' | 'failed' | 'cancelled';
  /** Sums over `images`, the images started so far (in install order). */
  fetched: number;
  reused: number;
  total: number;
  images: ImageProgress[];
}

export interface PrepareRequest {
  version: string;
}

/** Body of every non-2xx response. */
export interface ApiErrorBody {
  error: string;
  /** Machine-readable kind: busy (423), conflict (409, illegal in this state), bad-request, failed. */
  kind: ApiErrorKind;
  updateState?: UpdateState;
}
export type ApiErrorKind = 'busy' | 'conflict' | 'bad-request' | 'not-found' | 'failed';

export const HTTP_STATUS_FOR: Record<ApiErrorKind, number> = {
  'bad-request': 400,
  'not-found': 404,
  conflict: 409,
  busy: 423,
  failed: 500,
};

/** Where `updog serve` listens unless told otherwise (the agent's DaemonSet mounts /run/updog). */
export const DEFAULT_API_SOCKET = '/run/updog/api.sock';

export const STATUS_ROUTE = '/updates/status';

/** POST: cancels the command in progress (its downloads stop; it fails as "cancelled"); 409 when none runs. */
export const CANCEL_ROUTE = '/actions/cancel';

/** POST routes, one per command (names follow Bottlerocket's `/actions/...`). */
export const COMMAND_ROUTES: Record<UpdateCommand, string> = {
  refresh: '/actions/refresh-updates',
  prepare: '/actions/prepare-update',
  activate: '/actions/activate-update',
  deactivate: '/actions/deactivate-update',
  reboot: '/actions/reboot',
  'mark-successful-boot': '/actions/mark-successful-boot',
};
