;; wasm-bindgen-style module: imports a JS function to print a string from linear memory and
;; exports `greet` (and `memory`) the way wasm-bindgen output does (`__wbg_*` import names).
(module
  (import "./hello_bg.js" "__wbg_log_1" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from a wasm-bindgen style module")
  (func (export "greet") (result i32)
    (call $log (i32.const 16) (i32.const 38))
    (i32.const 42)))
