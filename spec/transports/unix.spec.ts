import { transportContract } from '../transport-contract.js'
import { unixUrl, urlDriver } from './drivers.js'

transportContract('unix', urlDriver(unixUrl))
