// The baseline of bench/openapi_import.sh: @apidevtools/swagger-parser's validate() on one file
// (parse, dereference, validate against the OpenAPI schema). Prints the milliseconds it took.
import SwaggerParser from '@apidevtools/swagger-parser';

const file = process.argv[2];
const started = process.hrtime.bigint();
await SwaggerParser.validate(file);
const ms = Number(process.hrtime.bigint() - started) / 1e6;
console.log(ms.toFixed(0));
