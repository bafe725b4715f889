// Writes openapi.yaml from the route and message schemas: the code is the single source of truth.
import { writeFile } from 'node:fs/promises'
import { generateOpenapiYaml } from './openapi-yaml.js'

await writeFile(new URL('../openapi.yaml', import.meta.url), await generateOpenapiYaml())
process.stdout.write('openapi.yaml written\n')
