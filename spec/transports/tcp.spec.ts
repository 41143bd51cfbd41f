import { transportContract } from '../transport-contract.js'
import { tcpUrl, urlDriver } from './drivers.js'

transportContract('tcp', urlDriver(tcpUrl))
