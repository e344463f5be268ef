/* tslint:disable */
export function greet(): number;
export default function init(module_or_path?: RequestInfo | URL | BufferSource | WebAssembly.Module): Promise<{ greet(): number }>;
