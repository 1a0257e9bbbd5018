// The arena's state as Colyseus schema (plain JS: fields assigned in constructors so the setters track them).
import { ArraySchema, MapSchema, Schema, defineTypes } from '@colyseus/schema';

export class Player extends Schema {
  constructor(name, x, y) {
    super();
    this.x = x;
    this.y = y;
    this.dx = 0;
    this.dy = 0;
    this.score = 0;
    this.name = name;
  }
}
defineTypes(Player, { x: 'number', y: 'number', dx: 'number', dy: 'number', score: 'number', name: 'string' });

export class Item extends Schema {
  constructor(x, y, kind) {
    super();
    this.x = x;
    this.y = y;
    this.kind = kind;
  }
}
defineTypes(Item, { x: 'number', y: 'number', kind: 'string' });

export class Rank extends Schema {
  constructor(name, score) {
    super();
    this.name = name;
    this.score = score;
  }
}
defineTypes(Rank, { name: 'string', score: 'number' });

export class ArenaState extends Schema {
  constructor() {
    super();
    this.width = 800;
    this.height = 600;
    this.players = new MapSchema();
    this.items = new MapSchema();
    this.leaderboard = new ArraySchema();
  }
}
defineTypes(ArenaState, { width: 'number', height: 'number', players: { map: Player }, items: { map: Item }, leaderboard: [Rank] });
