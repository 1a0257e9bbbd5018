import { readFrame, RoomReplicas } from '../../client/room-replicas.ts';
import type { EncodedOnce, Encoding } from '../../server/net/codec.ts';
import type { Member } from '../../server/net/rooms.ts';

/** A room member that reads the real bytes it is sent (msgpack or JSON) with the client library's own decoder. */
export class ReplicaReader implements Member {
  readonly replicas = new RoomReplicas();
  constructor(
    readonly player: string,
    private readonly encoding: Encoding = 'msgpack',
  ) {}
  deliver(message: EncodedOnce): boolean {
    const m = readFrame(message.for(this.encoding)) as [string, number, unknown];
    this.replicas.apply(m[0] as '$state' | '$delta', m[2]);
    return true;
  }
  queued(): number {
    return 0;
  }
}
