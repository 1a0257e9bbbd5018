// Which rooms each player is in: the bookkeeping both room syncs share.

export class PlayerRooms {
  private readonly byPlayer = new Map<string, Set<string>>();

  of(player: string): string[] {
    return [...(this.byPlayer.get(player) ?? [])];
  }

  add(player: string, room: string): void {
    let set = this.byPlayer.get(player);
    if (!set) this.byPlayer.set(player, (set = new Set()));
    set.add(room);
  }

  remove(player: string, room: string): void {
    this.byPlayer.get(player)?.delete(room);
  }

  /** Leaves every room of `player` through `leave`, then forgets the player. */
  removeAll(player: string, leave: (room: string) => void): void {
    for (const room of this.of(player)) leave(room);
    this.byPlayer.delete(player);
  }
}
