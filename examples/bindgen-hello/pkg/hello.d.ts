/* tslint:disable */
export function greet(): number;
export function main(): void;
export default function init(module_or_path?: RequestInfo | URL | BufferSource | WebAssembly.Module): Promise<{ greet(): number }>;
