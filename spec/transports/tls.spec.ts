import { transportContract } from '../transport-contract.js'
import { tlsUrl, urlDriver } from './drivers.js'

// keyed by the PSK derived from the contract's shared key
transportContract('tls', urlDriver(tlsUrl))
