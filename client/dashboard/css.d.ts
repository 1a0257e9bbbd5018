// A stylesheet imported by the dashboard arrives as its text (server/net/pages.ts bundles .css with the text loader).
declare module '*.css' {
  const text: string;
  export default text;
}
