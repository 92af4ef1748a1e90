// The sizes the service map is drawn with, apart from the layout engine: the map draws with them
// before dagre (a chunk loaded after first paint) has arrived.

export const CARD_WIDTH = 190;
export const CARD_HEIGHT = 58;

export interface Point {
  x: number;
  y: number;
}
