// The layer check of `npm run lint`: dependency-cruiser with the rules in .dependency-cruiser.cjs
// (found in the current directory) over the folders given as arguments. dependency-cruiser 18's
// own command line refuses to start on Node 20, which busbench supports and CI runs; its API
// makes no such check and cruises the same way, so this goes through the API.
import { resolve } from 'node:path';
import { cruise } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const options = await extractDepcruiseOptions(resolve('.dependency-cruiser.cjs'));
const tsConfig = options.tsConfig?.fileName ? extractTSConfig(options.tsConfig.fileName) : {};
const result = await cruise(process.argv.slice(2), { ...options, outputType: 'err-long' }, {}, { tsConfig });
process.stdout.write(result.output);
// The API's exit code is the number of errors, which the shell would wrap to 0 at 256.
process.exitCode = result.exitCode > 0 ? 1 : 0;
