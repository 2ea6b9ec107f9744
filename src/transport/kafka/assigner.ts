/**
 * The kafkajs partition assigner for the input consumer group: co-partitioned (coPartition.ts).
 * It runs on the group leader at each rebalance. Topics with different partition counts make it
 * throw, so the leader's consumer fails with {@link PartitionCountMismatchError}; connect.ts
 * checks the counts before joining, so that is seen at start with a clear message.
 */
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';
import { assignCoPartitioned } from '../coPartition.js';

export const CO_PARTITIONED_ASSIGNER = 'msa-copartitioned';

export const coPartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: CO_PARTITIONED_ASSIGNER,
  version: 1,
  async assign({ members, topics }) {
    const counts: Record<string, number> = {};
    for (const topic of [...topics].sort()) counts[topic] = cluster.findTopicPartitionMetadata(topic).length;
    const assignment = assignCoPartitioned(
      members.map((m) => m.memberId),
      counts,
    );
    return Object.entries(assignment).map(([memberId, topicPartitions]) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: topicPartitions, userData: Buffer.alloc(0) }),
    }));
  },
  protocol({ topics }) {
    return { name: CO_PARTITIONED_ASSIGNER, metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }) };
  },
});
