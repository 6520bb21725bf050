// The two-engine lab is plain JavaScript so that the Swarm benchmark (bench/swarm.mjs) uses it too.
export { type LabNode, SwarmLab } from '../../bench/swarm-lab.mjs';
