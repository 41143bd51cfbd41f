import { transportContract } from '../transport-contract.js'
import { memoryUrl, urlDriver } from './drivers.js'

transportContract('memory', urlDriver(memoryUrl))
